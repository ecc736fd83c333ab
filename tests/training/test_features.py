"""What ``save_bundle`` infers about each feature: text, open categories, declared kinds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

import dockyard
from dockyard.errors import TrainingError
from dockyard.predictor import Predictor
from dockyard.training.columns import column_roles
from tests.conftest import churn_frame, review_frame, review_texts


def _features(bundle: Path) -> dict[str, dict[str, object]]:
    doc = json.loads((bundle / "bundle.json").read_text())
    return {f["name"]: f for f in doc["features"]}


def test_a_column_fed_to_a_vectorizer_is_text(reviews_bundle: Path) -> None:
    doc = json.loads((reviews_bundle / "bundle.json").read_text())
    features = _features(reviews_bundle)
    # 60 different sentences: few enough to have been a closed category before.
    assert features["review"]["type"] == "text"
    assert features["review"]["categories"] is None
    assert features["channel"]["type"] == "category"
    assert features["channel"]["accepts_unknown"] is True
    assert features["age"] == {
        "name": "age",
        "type": "number",
        "minimum": 18.0,
        "maximum": 66.0,
        "categories": None,
        "accepts_unknown": False,
        "nullable": True,
    }
    assert doc["runtime"] == {**doc["runtime"], "kind": "sklearn"}
    assert doc["runtime"]["reason"] == "text features (review) are served by scikit-learn"


def test_one_dimensional_texts_are_one_text_feature(sentiment_bundle: Path) -> None:
    doc = json.loads((sentiment_bundle / "bundle.json").read_text())
    assert doc["model"]["input"] == "column"
    assert [(f["name"], f["type"]) for f in doc["features"]] == [("text", "text")]
    assert doc["input_example"] == [{"text": review_texts(40, seed=1)[0][0]}]
    assert "pandas" not in doc["environment"]["packages"]


def test_a_series_names_its_feature_and_a_holdout_works(tmp_path: Path) -> None:
    texts, labels = review_texts(40)
    series = pd.Series(texts, name="comment")
    model = make_pipeline(HashingVectorizer(n_features=256), LogisticRegression())
    model.fit(series[:30], labels[:30])
    meta = dockyard.save_bundle(
        model,
        series[:30],
        labels[:30],
        X_test=series[30:].tolist(),
        y_test=labels[30:],
        name="comments",
        path=tmp_path / "b",
    )
    assert [(f.name, f.type) for f in meta.features] == [("comment", "text")]
    assert meta.evaluation.method == "holdout"
    served = Predictor.from_path(tmp_path / "b")
    sentence = "a sentence nobody wrote before"
    assert (
        served.predict_columns(served.validator.records([{"comment": sentence}])).outputs
        == model.predict([sentence]).tolist()
    )


def test_saving_a_text_model_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    X, y = review_frame(30)
    model = make_pipeline(
        ColumnTransformer([("words", TfidfVectorizer(), "review")]), LogisticRegression()
    ).fit(X, y)
    capfd.readouterr()
    dockyard.save_bundle(model, X, y, name="quiet", path=tmp_path / "b")
    # onnxruntime used to print a red locale error from its C++ logger here.
    assert capfd.readouterr() == ("", "")


def test_declared_kinds_win(tmp_path: Path) -> None:
    X, y = churn_frame(120)
    X["note"] = [f"note {i % 5}" for i in range(len(X))]
    model = make_pipeline(
        ColumnTransformer(
            [("cats", OneHotEncoder(), ["plan", "region", "note"])], remainder=StandardScaler()
        ),
        LogisticRegression(),
    ).fit(X, y)
    meta = dockyard.save_bundle(
        model,
        X,
        y,
        name="declared",
        path=tmp_path / "b",
        feature_types={"note": "text", "monthly_spend": "number", "tenure_months": "number"},
    )
    kinds = {f.name: f.type for f in meta.features}
    assert kinds == {
        "plan": "category",
        "region": "category",
        "tenure_months": "number",
        "monthly_spend": "number",
        "note": "text",
    }


@pytest.mark.parametrize(
    ("feature_types", "message"),
    [
        (
            {"plan": "string"},
            "feature_types['plan'] is 'string'; a feature's kind is one of: "
            "number, integer, boolean, category, text.",
        ),
        ({"colour": "text"}, "feature_types names 'colour', which is not a column of X"),
        (
            {"plan": "number"},
            "feature_types['plan'] is 'number', but column 'plan' holds strings; "
            "it can be declared 'category' or 'text'.",
        ),
        (
            {"monthly_spend": "integer"},
            "feature_types['monthly_spend'] is 'integer', but column 'monthly_spend' has "
            "fractional values.",
        ),
    ],
)
def test_declared_kinds_are_checked(
    tmp_path: Path, feature_types: dict[str, str], message: str
) -> None:
    X, y = churn_frame(60)
    model = make_pipeline(
        ColumnTransformer([("cats", OneHotEncoder(), ["plan"])]), LogisticRegression()
    ).fit(X, y)
    with pytest.raises(TrainingError) as exc:
        dockyard.save_bundle(
            model,
            X,
            y,
            name="x",
            path=tmp_path / "b",
            feature_types=feature_types,  # type: ignore[arg-type]
        )
    assert str(exc.value).startswith(message)
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["My Model!", "", "a" * 64, "-lead", "trailing\n"])
def test_an_invalid_name_is_one_clear_line(tmp_path: Path, name: str) -> None:
    X, y = churn_frame(30)
    model = LogisticRegression().fit(X[["tenure_months"]], y)
    with pytest.raises(TrainingError) as exc:
        dockyard.save_bundle(model, X[["tenure_months"]], y, name=name, path=tmp_path / "b")
    message = str(exc.value)
    assert "is not a valid bundle name: it must be lowercase letters, digits" in message
    assert "pydantic" not in message
    assert "\n" not in message


def test_roles_follow_pipelines_unions_and_column_selections() -> None:
    columns = ["a", "b", "c", "d", "e", "f"]
    X = pd.DataFrame(
        {
            "a": ["xx yy", "yy zz", "zz xx", "xx xx"],
            "b": ["p", "q", "p", "q"],
            "c": ["p", "q", "p", "q"],
            "d": ["p", "q", "p", "q"],
            "e": ["p", "q", "p", "q"],
            "f": [1.0, 2.0, np.nan, 4.0],
        }
    )
    prepare = ColumnTransformer(
        [
            ("gaps", make_pipeline(SimpleImputer(strategy="constant"), "passthrough"), ["f"]),
            ("words", TfidfVectorizer(), 0),
            (
                "open",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                [1],
            ),
            (
                "ordinal",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                np.array([False, False, True, False, False, False]),
            ),
            ("strict", OneHotEncoder(), ["d"]),
            # e goes to a lenient encoder and also untouched to the model: not open.
            ("e", OneHotEncoder(handle_unknown="infrequent_if_exist"), ["e"]),
        ],
        remainder="passthrough",
    )
    model = Pipeline(
        [
            (
                "both",
                FeatureUnion(
                    [("p", prepare), ("e", ColumnTransformer([("raw", "passthrough", ["e"])]))]
                ),
            )
        ]
    ).fit(X)
    roles = column_roles(model, columns)
    assert roles.text == {"a"}
    assert roles.open == {"b", "c"}


def test_a_vectorizer_given_several_columns_says_nothing() -> None:
    # Fitted on a DataFrame, a vectorizer iterates its column names: not a text column.
    X = pd.DataFrame({"aa": ["xx", "yy"], "bb": ["yy", "zz"]})
    model = ColumnTransformer([("w", TfidfVectorizer(), ["aa", "bb"])]).fit(X)
    assert column_roles(model, ["aa", "bb"]).text == frozenset()


def test_unseen_categories_agree_across_runtimes_or_stay_on_scikit_learn(tmp_path: Path) -> None:
    X, y = churn_frame(120)
    record = {"plan": "gold", "region": "mars", "tenure_months": 3, "monthly_spend": 40.0}
    for handle, runtime in (("ignore", "onnx"), ("infrequent_if_exist", "sklearn")):
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("numbers", StandardScaler(), ["tenure_months", "monthly_spend"]),
                    ("cats", OneHotEncoder(handle_unknown=handle), ["plan", "region"]),
                ]
            ),
            LogisticRegression(),
        ).fit(X, y)
        meta = dockyard.save_bundle(
            model, X, y, name=handle.replace("_", "-"), path=tmp_path / handle
        )
        assert meta.runtime.kind == runtime, meta.runtime.reason
        if runtime == "sklearn":
            assert meta.runtime.reason.startswith("with categories unseen in training")
        served = Predictor.from_path(tmp_path / handle)
        assert served.runtime == runtime
        got = served.predict_columns(served.validator.records([record]))
        expected = model.predict_proba(pd.DataFrame([record]))
        assert got.outputs == model.predict(pd.DataFrame([record])).tolist()
        np.testing.assert_allclose(got.probabilities, expected, atol=1e-4)  # type: ignore[arg-type]

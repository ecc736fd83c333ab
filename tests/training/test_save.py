from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import dockyard
from dockyard.errors import TrainingError, UntrustedTypes
from tests.conftest import churn_frame


def test_categorical_pipeline_schema(churn_bundle: Path) -> None:
    doc = json.loads((churn_bundle / "bundle.json").read_text())
    features = {f["name"]: f for f in doc["features"]}
    assert features["plan"]["type"] == "category"
    assert features["plan"]["categories"] == ["basic", "plus", "pro"]
    assert features["tenure_months"]["type"] == "integer"
    assert features["monthly_spend"]["type"] == "number"
    assert doc["model"]["input"] == "frame"
    assert "pandas" in doc["environment"]["packages"]
    assert doc["evaluation"]["method"] == "cross_validation"
    assert doc["evaluation"]["rows"] == 200


def test_regressor_metrics(diabetes_bundle: Path) -> None:
    doc = json.loads((diabetes_bundle / "bundle.json").read_text())
    assert doc["task"] == "regression"
    assert set(doc["evaluation"]["metrics"]) == {"r2", "mae", "rmse"}
    assert doc["target"]["classes"] is None
    assert doc["model"]["trusted_types"] == []


def test_numpy_input_with_feature_names(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    meta = dockyard.save_bundle(
        model, X, y, name="np", path=tmp_path / "np", feature_names=["a", "b", "c"]
    )
    assert meta.feature_names == ["a", "b", "c"]
    assert meta.classes == [0, 1]
    meta = dockyard.save_bundle(model, X, y, name="np2", path=tmp_path / "np2")
    assert meta.feature_names == ["x0", "x1", "x2"]


def test_unfitted_model_is_refused(tmp_path: Path) -> None:
    X, y = churn_frame()
    with pytest.raises(TrainingError, match="not fitted"):
        dockyard.save_bundle(LogisticRegression(), X, y, name="x", path=tmp_path / "x")


def test_columns_must_match_what_the_model_saw(tmp_path: Path) -> None:
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 0.0, 1.0]})
    model = LinearRegression().fit(X, [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(TrainingError, match="fitted on columns"):
        dockyard.save_bundle(
            model, X[["b", "a"]], [1.0, 2.0, 3.0, 4.0], name="x", path=tmp_path / "x"
        )


def test_string_columns_need_a_pipeline(tmp_path: Path) -> None:
    X, y = churn_frame()
    model = LogisticRegression().fit(X[["tenure_months"]].to_numpy(), y)
    with pytest.raises(TrainingError, match="not numeric"):
        dockyard.save_bundle(model, X[["plan"]], y, name="x", path=tmp_path / "x")


def test_rows_must_match(tmp_path: Path) -> None:
    X, y = churn_frame()
    model = LogisticRegression().fit(X[["tenure_months"]], y)
    with pytest.raises(TrainingError, match="rows"):
        dockyard.save_bundle(model, X[["tenure_months"]], y[:10], name="x", path=tmp_path / "x")


def test_unreviewed_types_are_refused_at_save_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.tree import DecisionTreeClassifier

    monkeypatch.setattr("dockyard.training.save.REVIEWED_TRUSTED_TYPES", ())
    monkeypatch.setattr("dockyard.bundle.store.REVIEWED_TRUSTED_TYPES", ())
    X, y = churn_frame()
    model = DecisionTreeClassifier(random_state=0).fit(X[["tenure_months"]], y)
    with pytest.raises(UntrustedTypes, match=r"sklearn\.tree\._tree\.Tree"):
        dockyard.save_bundle(model, X[["tenure_months"]], y, name="t", path=tmp_path / "t")
    assert not (tmp_path / "t").exists()
    meta = dockyard.save_bundle(
        model,
        X[["tenure_months"]],
        y,
        name="t",
        path=tmp_path / "t",
        trusted_types=["sklearn.tree._tree.Tree"],
    )
    assert meta.model.trusted_types == ["sklearn.tree._tree.Tree"]


def test_nullable_features_are_recorded(tmp_path: Path) -> None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0], "b": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    y = [0, 0, 0, 1, 1, 1]
    model = make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, y)
    meta = dockyard.save_bundle(model, X, y, name="n", path=tmp_path / "n", X_test=X, y_test=y)
    assert [f.nullable for f in meta.features] == [True, False]
    assert meta.input_example[0]["a"] == 1.0

"""``dockyard import`` of real MLflow model directories, written by MLflow itself."""

from __future__ import annotations

import hashlib
import json
import logging
import operator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dockyard.cli.main import main
from dockyard.errors import EnvironmentMismatch, TrainingError, UntrustedTypes, UsageError
from dockyard.predictor import Predictor
from dockyard.training.imports import import_model
from tests.conftest import churn_frame, require

mlflow_sklearn = require("mlflow.sklearn")

# MLflow's own warnings while it saves: it compares DataFrame columns with a range, and
# infers a schema from its type hints.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]


@pytest.fixture(autouse=True)
def _quiet_mlflow() -> None:
    # MLflow warns (through logging) about pickle formats on every save.
    logging.getLogger("mlflow").setLevel(logging.ERROR)


def _pipeline(*, negate_spend: bool = False) -> tuple[Any, pd.DataFrame, pd.Series]:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    X, y = churn_frame(rows=120)
    spend = FunctionTransformer(operator.neg) if negate_spend else StandardScaler()
    prepare = ColumnTransformer(
        [
            ("tenure", StandardScaler(), ["tenure_months"]),
            ("spend", spend, ["monthly_spend"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    return (
        Pipeline([("prepare", prepare), ("classify", LogisticRegression(max_iter=2000))]).fit(X, y),
        X,
        y,
    )


def _save(
    path: Path,
    serialization: str,
    *,
    negate_spend: bool = False,
    infer_requirements: bool = False,
    **kwargs: Any,
) -> tuple[Any, Path]:
    import sklearn
    from mlflow.models import infer_signature

    model, X, y = _pipeline(negate_spend=negate_spend)
    if not infer_requirements:
        # What MLflow would find, without the subprocess it loads the model in to look.
        kwargs["pip_requirements"] = [f"scikit-learn=={sklearn.__version__}"]
    mlflow_sklearn.save_model(
        model,
        path,
        serialization_format=serialization,
        signature=infer_signature(X, model.predict(X)),
        input_example=X.head(3),
        **kwargs,
    )
    data = path.parent / "train.csv"
    X.assign(churned=y).to_csv(data, index=False)
    return model, data


def _import(directory: Path, data: Path, out: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"sha256": None, "target": "churned", "name": "churn"}
    return import_model(directory, data=data, out=out, **(options | kwargs))


def test_a_skops_model_imports_with_its_signatures_schema(tmp_path: Path) -> None:
    model, data = _save(tmp_path / "mlflow", "skops", infer_requirements=True)
    meta = _import(tmp_path / "mlflow", data, tmp_path / "bundle")
    features = {f.name: f.type for f in meta.features}
    # The signature's column order and types (long → integer), not the CSV's.
    assert list(features) == ["plan", "region", "tenure_months", "monthly_spend"]
    assert features == {
        "plan": "category",
        "region": "category",
        "tenure_months": "integer",
        "monthly_spend": "number",
    }
    assert meta.evaluation.method == "cross_validation"
    assert meta.target.classes == ["no", "yes"]
    rows, _ = churn_frame(rows=20, seed=3)
    served = Predictor.from_path(tmp_path / "bundle")
    assert (
        served.predict_columns(served.validator.records(rows.to_dict("records"))).outputs
        == model.predict(rows).tolist()
    )


def test_the_mlmodel_files_trusted_types_are_not_used(tmp_path: Path) -> None:
    # MLflow records skops_trusted_types in MLmodel; a crafted file could list anything
    # there (GHSA-w582-9x45-8mpx), so only the reviewed list and --trust count.
    _, data = _save(
        tmp_path / "mlflow", "skops", negate_spend=True, skops_trusted_types=["_operator.neg"]
    )
    assert "_operator.neg" in (tmp_path / "mlflow" / "MLmodel").read_text()
    with pytest.raises(UntrustedTypes, match=r"_operator\.neg") as caught:
        _import(tmp_path / "mlflow", data, tmp_path / "bundle")
    assert caught.value.types == ("_operator.neg",)
    assert not (tmp_path / "bundle").exists()
    meta = _import(tmp_path / "mlflow", data, tmp_path / "bundle", trusted_types=["_operator.neg"])
    assert meta.model.trusted_types == ["_operator.neg"]


@pytest.mark.parametrize("serialization", ["pickle", "cloudpickle"])
def test_a_pickled_model_loads_only_with_its_sha256(tmp_path: Path, serialization: str) -> None:
    _, data = _save(tmp_path / "mlflow", serialization)
    with pytest.raises(UsageError, match="--sha256"):
        _import(tmp_path / "mlflow", data, tmp_path / "bundle")
    with pytest.raises(UntrustedTypes, match="refusing to unpickle"):
        _import(tmp_path / "mlflow", data, tmp_path / "bundle", sha256="0" * 64)
    good = hashlib.sha256((tmp_path / "mlflow" / "model.pkl").read_bytes()).hexdigest()
    meta = _import(tmp_path / "mlflow", data, tmp_path / "bundle", sha256=good)
    assert meta.model.format == "skops"


def test_a_model_saved_with_another_scikit_learn_is_refused(tmp_path: Path) -> None:
    import sklearn

    _, data = _save(tmp_path / "mlflow", "skops")
    requirements = tmp_path / "mlflow" / "requirements.txt"
    text = requirements.read_text().replace(
        f"scikit-learn=={sklearn.__version__}", "scikit-learn==1.0.2"
    )
    requirements.write_text(text)
    with pytest.raises(EnvironmentMismatch) as caught:
        _import(tmp_path / "mlflow", data, tmp_path / "bundle")
    assert f"scikit-learn 1.0.2 recorded, {sklearn.__version__} running" in str(caught.value)
    assert "pip install scikit-learn==1.0.2" in caught.value.hint


def test_a_model_without_the_sklearn_flavor_is_refused(tmp_path: Path) -> None:
    _, data = _save(tmp_path / "mlflow", "skops")
    mlmodel = tmp_path / "mlflow" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("  sklearn:", "  xgboost:"))
    with pytest.raises(TrainingError, match="no sklearn flavor"):
        _import(tmp_path / "mlflow", data, tmp_path / "bundle")


def test_the_cli_imports_an_mlflow_directory_without_a_sha256(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _save(tmp_path / "mlflow", "skops")
    out = tmp_path / "bundle"
    args = ["--data", str(data), "--target", "churned", "--name", "churn", "--out", str(out)]
    assert main(["import", str(tmp_path / "mlflow"), *args]) == 0
    assert "Imported churn 1.0.0" in capsys.readouterr().out
    assert json.loads((out / "bundle.json").read_text())["model"]["format"] == "skops"


def _import_without_data(directory: Path, out: Path, serialization: str) -> Any:
    sha256 = None
    if serialization != "skops":
        sha256 = hashlib.sha256((directory / "model.pkl").read_bytes()).hexdigest()
    return import_model(directory, sha256=sha256, data=None, target=None, name="churn", out=out)


@pytest.mark.parametrize("serialization", ["skops", "pickle", "cloudpickle"])
def test_a_model_imports_without_data_and_its_metrics_are_unknown(
    tmp_path: Path, serialization: str
) -> None:
    model, _ = _save(tmp_path / "mlflow", serialization)
    if serialization != "skops":  # still only with the pickle's sha256
        with pytest.raises(UsageError, match="--sha256"):
            import_model(
                tmp_path / "mlflow", sha256=None, data=None, target=None, name="c", out=tmp_path
            )
    meta = _import_without_data(tmp_path / "mlflow", tmp_path / "bundle", serialization)
    recorded = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert recorded["evaluation"] == {"method": "not_evaluated", "rows": 0, "metrics": {}}
    assert recorded["data"] == {"sha256": "", "rows": 0, "columns": 4}
    assert meta.headline_metric() == ("accuracy", None)
    # The signature's columns and types; the example's three rows give no training range.
    features = {f.name: f for f in meta.features}
    assert list(features) == ["plan", "region", "tenure_months", "monthly_spend"]
    assert [f.type for f in features.values()] == ["category", "category", "integer", "number"]
    assert features["tenure_months"].minimum is None
    assert features["monthly_spend"].maximum is None
    # The encoder's categories, not only the ones the three example rows happen to show.
    X, _ = churn_frame(rows=120)
    assert features["plan"].categories == sorted(X["plan"].unique())
    assert set(X.head(3)["plan"]) < set(features["plan"].categories)
    assert meta.target.classes == ["no", "yes"]
    rows, _ = churn_frame(rows=20, seed=3)
    served = Predictor.from_path(tmp_path / "bundle")
    assert (
        served.predict_columns(served.validator.records(rows.to_dict("records"))).outputs
        == model.predict(rows).tolist()
    )
    if serialization == "skops":  # the API lists the metric with no value
        from starlette.testclient import TestClient

        from dockyard.server.app import create_app
        from dockyard.settings import Settings

        with TestClient(create_app(Settings(), predictors=[served])) as client:
            listed = client.get("/v1/models").json()
        assert [m["metric"] for m in listed["models"]] == [{"name": "accuracy", "value": None}]


def test_inspect_and_the_report_show_the_metrics_as_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path / "mlflow", "skops")
    out = tmp_path / "bundle"
    assert main(["import", str(tmp_path / "mlflow"), "--name", "churn", "--out", str(out)]) == 0
    assert "metrics unknown: imported without --data" in capsys.readouterr().out
    assert main(["inspect", str(out)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "metrics: unknown (saved without data to measure it on;" in shown
    assert "trained on unknown data, 4 columns" in shown
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["metrics"] == {}
    assert report["figures"] == []
    page = (out / "report" / "index.html").read_text()
    assert "not evaluated" in page
    assert "Unknown: the model was saved without data to measure it on" in page


def test_without_data_a_model_needs_an_input_example(tmp_path: Path) -> None:
    _save(tmp_path / "mlflow", "skops")
    mlmodel = tmp_path / "mlflow" / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("type: dataframe", "type: ndarray"))
    with pytest.raises(UsageError, match="no input example") as caught:
        _import_without_data(tmp_path / "mlflow", tmp_path / "bundle", "skops")
    assert "--data" in caught.value.hint
    assert not (tmp_path / "bundle").exists()


def test_a_plain_pickle_still_needs_its_data(tmp_path: Path) -> None:
    import joblib

    model, _, _ = _pipeline()
    joblib.dump(model, tmp_path / "model.joblib")
    good = hashlib.sha256((tmp_path / "model.joblib").read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="no feature schema"):
        import_model(
            tmp_path / "model.joblib", sha256=good, data=None, target=None, name="c", out=tmp_path
        )


def test_without_data_a_strict_encoders_categories_come_from_the_model(tmp_path: Path) -> None:
    # The three example rows show two plans; the strict encoder knows three, and the
    # served model must take all three (and refuse others, as the encoder does).
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    X, y = churn_frame(rows=120)
    prepare = ColumnTransformer(
        [("codes", OrdinalEncoder(), ["plan", "region"])], remainder="passthrough"
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression(max_iter=2000))]).fit(
        X, y
    )
    mlflow_sklearn.save_model(
        model,
        tmp_path / "mlflow",
        serialization_format="skops",
        input_example=X.head(3),
        pip_requirements=["scikit-learn"],
    )
    meta = _import_without_data(tmp_path / "mlflow", tmp_path / "bundle", "skops")
    plan = next(f for f in meta.features if f.name == "plan")
    assert plan.categories == ["basic", "plus", "pro"]
    assert not plan.accepts_unknown
    served = Predictor.from_path(tmp_path / "bundle")
    row = X[X["plan"] == "basic"].head(1)
    assert "basic" not in set(X.head(3)["plan"])
    assert (
        served.predict_columns(served.validator.records(row.to_dict("records"))).outputs
        == model.predict(row).tolist()
    )


def test_without_data_a_clusterer_is_refused(tmp_path: Path) -> None:
    from sklearn.cluster import KMeans

    X, _ = churn_frame(rows=60)
    numbers = X[["tenure_months", "monthly_spend"]]
    model = KMeans(2, n_init=2, random_state=0).fit(numbers)
    mlflow_sklearn.save_model(
        model,
        tmp_path / "mlflow",
        serialization_format="skops",
        input_example=numbers.head(2),
        pip_requirements=["scikit-learn"],
    )
    with pytest.raises(TrainingError, match="described by the rows it was trained on"):
        _import_without_data(tmp_path / "mlflow", tmp_path / "bundle", "skops")


def test_saving_unmeasured_takes_no_target() -> None:
    # Given y, evaluate=False would drop what could measure the model: refused, not ignored.
    from dockyard.training.save import save_bundle

    model, X, y = _pipeline()
    with pytest.raises(TrainingError, match="pass y=None"):
        save_bundle(model, X.head(3), y.head(3), name="c", path="unused", evaluate=False)

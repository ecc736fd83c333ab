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
from tests.conftest import churn_frame

mlflow_sklearn = pytest.importorskip("mlflow.sklearn")

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
    assert served.predict_records(rows.to_dict("records")).outputs == model.predict(rows).tolist()


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

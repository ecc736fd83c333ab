from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import UsageError
from dockyard.training import train_example


def test_iris_bundle_records_everything(iris_bundle: Path) -> None:
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    assert doc["schema_version"] == 4
    assert doc["task"] == "classification"
    assert [f["name"] for f in doc["features"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert doc["features"][0]["minimum"] < doc["features"][0]["maximum"]
    assert doc["target"] == {"name": "species", "classes": ["setosa", "versicolor", "virginica"]}
    assert doc["evaluation"]["method"] == "holdout"
    assert set(doc["evaluation"]["metrics"]) == {"accuracy", "f1_macro"}
    assert doc["evaluation"]["metrics"]["accuracy"] > 0.85
    assert {"scikit-learn", "numpy", "scipy", "skops"} <= set(doc["environment"]["packages"])
    assert "pandas" not in doc["environment"]["packages"]  # fitted on arrays: served without pandas
    assert doc["model"]["input"] == "array"
    assert len(doc["data"]["sha256"]) == 64
    assert set(doc["input_example"][0]) == {f["name"] for f in doc["features"]}
    assert set(doc["files"]) == {"model.skops", "model.onnx", "golden.json"} | {
        f for f in doc["files"] if f.startswith("report/")
    }


def test_training_is_reproducible(iris_bundle: Path, wine_bundle: Path, tmp_path: Path) -> None:
    for name, original in (("iris", iris_bundle), ("wine", wine_bundle)):
        again = train_example(name, tmp_path / name)
        first = json.loads((original / "bundle.json").read_text())
        assert again.evaluation.model_dump() == first["evaluation"]
        assert again.data.sha256 == first["data"]["sha256"]


def test_unknown_example(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="iris, wine"):
        train_example("mnist", tmp_path / "x")


def test_existing_bundle_is_kept_unless_overwrite(iris_bundle: Path, tmp_path: Path) -> None:
    from dockyard.errors import TrainingError

    target = tmp_path / "iris"
    train_example("iris", target)
    with pytest.raises(TrainingError, match="already exists"):
        train_example("iris", target)
    train_example("iris", target, overwrite=True, version="2.0.0")
    assert json.loads((target / "bundle.json").read_text())["version"] == "2.0.0"

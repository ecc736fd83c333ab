from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.bundle.metadata import SCHEMA_VERSION, parse_metadata
from dockyard.errors import BundleSchemaError

V1 = {
    "schema_version": 1,
    "name": "legacy",
    "version": 3,
    "task": "classification",
    "model_file": "model.skops",
    "features": ["a", "b"],
    "dtypes": {"a": "float", "b": "int"},
    "classes": [0, 1],
    "metrics": {"accuracy": 0.9, "f1_macro": 0.88},
    "sklearn_version": "1.5.0",
    "numpy_version": "2.0.0",
    "python_version": "3.11.4",
    "checksums": {"model.skops": "ab" * 32},
}


def test_schema_1_is_upgraded() -> None:
    meta = parse_metadata(dict(V1))
    assert meta.schema_version == SCHEMA_VERSION
    assert meta.name == "legacy"
    assert meta.version == "3"
    assert [(f.name, f.type) for f in meta.features] == [("a", "number"), ("b", "integer")]
    assert meta.environment.packages == {"scikit-learn": "1.5.0", "numpy": "2.0.0"}
    assert meta.evaluation.metrics["accuracy"] == 0.9
    assert meta.files == {"model.skops": "ab" * 32}


@pytest.mark.parametrize("doc", [[], "x", {}, {"schema_version": "2"}, {"schema_version": True}])
def test_not_a_bundle_document(doc: object) -> None:
    with pytest.raises(BundleSchemaError):
        parse_metadata(doc)


def test_names_must_be_url_and_image_safe(iris_bundle: Path) -> None:
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    doc["name"] = "My Model!"
    with pytest.raises(BundleSchemaError, match="lowercase"):
        parse_metadata(doc)


def test_current_bundle_round_trips(iris_bundle: Path) -> None:
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    meta = parse_metadata(doc)
    assert meta.model_dump(mode="json") == doc
    assert meta.headline_metric()[0] == "accuracy"

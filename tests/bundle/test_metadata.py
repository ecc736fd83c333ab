from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _as_schema_2(doc: dict[str, Any]) -> dict[str, Any]:
    """A current bundle.json as Dockyard 0.1-0.x (schema 2) wrote it: free text was a
    category without categories."""
    features = [
        {k: v for k, v in f.items() if k != "accepts_unknown"}
        | ({"type": "category"} if f["type"] == "text" else {})
        for f in doc["features"]
    ]
    return {**doc, "schema_version": 2, "features": features}


def test_schema_2_free_text_becomes_text(reviews_bundle: Path) -> None:
    doc = _as_schema_2(json.loads((reviews_bundle / "bundle.json").read_text()))
    assert [f["type"] for f in doc["features"]] == ["category", "category", "number"]
    meta = parse_metadata(doc)
    assert meta.schema_version == SCHEMA_VERSION == 4
    assert [(f.name, f.type) for f in meta.features] == [
        ("review", "text"),
        ("channel", "category"),
        ("age", "number"),
    ]
    # A schema 2 category with categories stays closed: old bundles behave as they did.
    assert meta.features[1].categories == ["phone", "store", "web"]
    assert not meta.features[1].accepts_unknown


def test_schema_2_bundle_on_disk_still_loads(tmp_path: Path, iris_bundle: Path) -> None:
    import shutil

    from dockyard.bundle.store import load_bundle

    copy = shutil.copytree(iris_bundle, tmp_path / "iris")
    doc = json.loads((copy / "bundle.json").read_text())
    (copy / "bundle.json").write_text(json.dumps(_as_schema_2(doc)))
    assert load_bundle(copy).metadata.feature_names == doc_names(doc)


def doc_names(doc: dict[str, Any]) -> list[str]:
    return [f["name"] for f in doc["features"]]


def test_schema_1_strings_become_text() -> None:
    meta = parse_metadata({**V1, "dtypes": {"a": "float", "b": "str"}})
    assert [(f.name, f.type) for f in meta.features] == [("a", "number"), ("b", "text")]


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        ({"name": "c", "type": "category"}, "lists no categories"),
        ({"name": "t", "type": "text", "categories": ["a"]}, "only a category"),
        ({"name": "n", "type": "number", "accepts_unknown": True}, "only a category"),
    ],
)
def test_features_are_consistent(iris_bundle: Path, feature: dict[str, Any], problem: str) -> None:
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    with pytest.raises(BundleSchemaError, match=problem):
        parse_metadata({**doc, "features": [feature]})

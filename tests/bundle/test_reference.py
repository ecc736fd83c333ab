"""The training reference a bundle records for drift, and the schema 3 → 4 upgrade."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dockyard.bundle.metadata import Feature, parse_metadata
from dockyard.bundle.reference import (
    MAX_CATEGORIES,
    OTHER,
    bin_edges,
    bin_indices,
    categories,
    numbers,
    training_reference,
)
from dockyard.bundle.store import load_bundle
from tests.conftest import churn_frame, review_frame


def _reference(bundle: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((bundle / "bundle.json").read_text())["reference"]
    return doc


def test_deciles_of_a_uniform_column() -> None:
    found = numbers(np.arange(1000.0))
    assert found.edges == [0.0, 99.9, 199.8, 299.7, 399.6, 499.5, 599.4, 699.3, 799.2, 899.1, 999.0]
    assert found.counts == [100] * 10


def test_few_distinct_values_get_one_bin_each() -> None:
    found = numbers([1, 2, 3, 3, 3, None, float("nan")])
    assert found.edges == [1.0, 1.5, 2.5, 3.0]
    assert found.counts == [1, 1, 3]


def test_a_constant_column_has_one_bin() -> None:
    assert numbers([5.0] * 20).model_dump() == {
        "kind": "number",
        "edges": [5.0, 5.0],
        "counts": [20],
    }
    assert numbers([None, None]).counts == [0]


def test_values_beyond_the_training_range_fall_in_the_outer_bins() -> None:
    edges = [0.0, 1.0, 2.0, 3.0]
    assert bin_indices(edges, np.array([-5.0, 0.0, 0.99, 1.0, 2.5, 3.0, 99.0])).tolist() == [
        0,
        0,
        0,
        1,
        2,
        2,
        2,
    ]


def test_edges_keep_six_significant_digits_without_duplicates() -> None:
    values = np.concatenate([np.full(500, 1.0000001), np.linspace(2, 3, 500)])
    edges = bin_edges(values)
    assert edges[0] == 1.0
    assert edges == sorted(set(edges))


def test_rare_categories_are_folded_into_other() -> None:
    values = [f"v{i:03d}" for i in range(80) for _ in range(80 - i)]
    found = categories(values)
    assert len(found.counts) == MAX_CATEGORIES + 1
    assert list(found.counts)[:2] == ["v000", "v001"]
    assert found.counts[OTHER] == sum(range(1, 31))
    assert sum(found.counts.values()) == len(values)


def test_booleans_and_known_values_are_spelled_as_json_writes_them() -> None:
    feature = Feature(name="member", type="boolean")
    frame = pd.DataFrame({"member": [True, True, True]})
    found = training_reference(frame, [feature], "classification", np.array([1, 1, 0]), [0, 1, 2])
    assert found.features["member"].model_dump() == {
        "kind": "category",
        "counts": {"true": 3, "false": 0},
    }
    assert found.prediction.model_dump() == {
        "kind": "category",
        "counts": {"1": 2, "0": 1, "2": 0},
    }


def test_churn_bundle_records_each_kind(churn_bundle: Path) -> None:
    reference = _reference(churn_bundle)
    X, _y = churn_frame()
    assert reference["rows"] == 200
    assert list(reference["features"]) == ["plan", "region", "tenure_months", "monthly_spend"]
    plan = reference["features"]["plan"]
    assert plan["kind"] == "category"
    assert plan["counts"] == X["plan"].value_counts().to_dict()
    spend = reference["features"]["monthly_spend"]
    assert spend["kind"] == "number"
    assert len(spend["edges"]) == 11
    assert sum(spend["counts"]) == 200
    assert spend["edges"][0] == X["monthly_spend"].min()
    assert spend["edges"][-1] == X["monthly_spend"].max()
    prediction = reference["prediction"]
    assert prediction["kind"] == "category"
    assert set(prediction["counts"]) == {"no", "yes"}
    assert sum(prediction["counts"].values()) == 200
    # Small: a few hundred bytes per feature.
    assert len(json.dumps(reference)) < 2048


def test_text_and_missing_values(reviews_bundle: Path) -> None:
    reference = _reference(reviews_bundle)["features"]
    assert reference["review"]["kind"] == "text"
    assert sum(reference["review"]["counts"]) == 60
    texts = review_frame()[0]["review"].str.len()
    assert reference["review"]["edges"][0] == texts.min()
    assert reference["review"]["edges"][-1] == texts.max()
    assert reference["channel"]["counts"] == {"phone": 20, "store": 20, "web": 20}
    assert sum(reference["age"]["counts"]) == 60 - 9  # every 7th age is missing


def test_regression_predictions_are_binned(diabetes_bundle: Path) -> None:
    prediction = _reference(diabetes_bundle)["prediction"]
    assert prediction["kind"] == "number"
    assert sum(prediction["counts"]) == _reference(diabetes_bundle)["rows"]


def test_unsupervised_predictions_are_categories(unsupervised_bundles: dict[str, Path]) -> None:
    outliers = _reference(unsupervised_bundles["anomalies"])["prediction"]["counts"]
    assert set(outliers) == {"inlier", "outlier"}
    assert sum(outliers.values()) == 150
    clusters = _reference(unsupervised_bundles["segments"])["prediction"]["counts"]
    assert set(clusters) == {"0", "1", "2"}


def test_the_reference_is_deterministic() -> None:
    X, _ = churn_frame(500, seed=3)
    features = [Feature(name="plan", type="category", categories=["basic", "plus", "pro"])]
    features.append(Feature(name="monthly_spend", type="number"))
    predictions = np.where(X["monthly_spend"] > 50, "yes", "no")
    first = training_reference(X, features, "classification", predictions, ["no", "yes"])
    second = training_reference(X.copy(), features, "classification", predictions.copy())
    assert first.model_dump_json() == second.model_dump_json()


def _as_schema_3(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "reference"} | {"schema_version": 3}


def test_schema_3_is_upgraded_without_a_reference(iris_bundle: Path) -> None:
    doc = json.loads((iris_bundle / "bundle.json").read_text())
    assert doc["schema_version"] == 4
    assert doc["reference"] is not None
    meta = parse_metadata(_as_schema_3(doc))
    assert meta.schema_version == 4
    assert meta.reference is None
    assert meta.model_dump(mode="json")["reference"] is None


def test_schema_3_bundle_on_disk_still_serves(tmp_path: Path, iris_bundle: Path) -> None:
    copy = shutil.copytree(iris_bundle, tmp_path / "iris")
    doc = json.loads((copy / "bundle.json").read_text())
    (copy / "bundle.json").write_text(json.dumps(_as_schema_3(doc)))
    loaded = load_bundle(copy)
    assert loaded.metadata.reference is None
    row = [[5.1, 3.5, 1.4, 0.2]]
    assert loaded.model.predict(row).tolist() == ["setosa"]


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ({"kind": "number", "edges": [0, 1, 2], "counts": [1]}, "need 2 counts"),
        ({"kind": "number", "edges": [2, 1], "counts": [1]}, "ascending"),
        ({"kind": "text", "edges": [0, 1], "counts": [-1]}, "negative"),
        ({"kind": "histogram", "counts": {}}, "kind"),
    ],
)
def test_a_malformed_reference_is_refused(
    iris_bundle: Path, reference: dict[str, Any], problem: str
) -> None:
    from dockyard.errors import BundleSchemaError

    doc = json.loads((iris_bundle / "bundle.json").read_text())
    doc["reference"]["prediction"] = reference
    with pytest.raises(BundleSchemaError, match=problem):
        parse_metadata(doc)


def test_an_imported_model_records_the_reference_of_its_data(tmp_path: Path) -> None:
    import hashlib

    import joblib
    from sklearn.linear_model import LogisticRegression

    from dockyard.training.imports import import_model

    X, y = churn_frame()
    numeric = X[["tenure_months", "monthly_spend"]]
    joblib.dump(LogisticRegression(max_iter=500).fit(numeric, y), tmp_path / "model.joblib")
    numeric.assign(churned=y).to_csv(tmp_path / "train.csv", index=False)
    meta = import_model(
        tmp_path / "model.joblib",
        sha256=hashlib.sha256((tmp_path / "model.joblib").read_bytes()).hexdigest(),
        data=tmp_path / "train.csv",
        target="churned",
        name="imported",
        out=tmp_path / "bundle",
    )
    assert meta.reference is not None
    assert meta.reference.rows == 200
    assert list(meta.reference.features) == ["tenure_months", "monthly_spend"]
    assert _reference(tmp_path / "bundle")["prediction"]["kind"] == "category"

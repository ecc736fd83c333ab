"""XGBoost and LightGBM estimators, alone and as the last step of a categorical Pipeline:
saved as skops with Dockyard's reviewed types, exported to ONNX through onnxmltools'
converters, and served the same by both runtimes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from starlette.testclient import TestClient

import dockyard
from dockyard.bundle.store import LIBRARY_TRUSTED_TYPES, REVIEWED_TRUSTED_TYPES, load_bundle
from dockyard.errors import BundleIntegrityError, EnvironmentMismatch, UntrustedTypes
from dockyard.predictor import Predictor
from dockyard.runtime.export import PROBABILITY_TOLERANCE
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import churn_frame, require

lightgbm = require("lightgbm")
xgboost = require("xgboost")

NUMBERS = ["tenure_months", "monthly_spend"]
CATEGORIES = ["plan", "region"]


def _estimators() -> dict[str, Callable[[], Any]]:
    return {
        "xgb-classifier": lambda: xgboost.XGBClassifier(n_estimators=4, max_depth=2),
        "xgb-regressor": lambda: xgboost.XGBRegressor(n_estimators=4, max_depth=2),
        "lgbm-classifier": lambda: lightgbm.LGBMClassifier(
            n_estimators=4, num_leaves=4, min_child_samples=5, verbose=-1
        ),
        "lgbm-regressor": lambda: lightgbm.LGBMRegressor(
            n_estimators=4, num_leaves=4, min_child_samples=5, verbose=-1
        ),
    }


def _fitted(name: str, kind: str) -> tuple[Any, pd.DataFrame, pd.Series]:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, churned = churn_frame(rows=120)
    if name.endswith("regressor"):
        y = pd.Series(X["monthly_spend"] * 0.5 + X["tenure_months"], name="value")
        X = X.drop(columns=["monthly_spend"]).assign(monthly_spend=X["monthly_spend"] ** 0.5)
    elif name.startswith("xgb"):
        # XGBoost classifies only the labels 0..n-1.
        y = pd.Series((churned == "yes").astype(int), name="churned")
    else:
        y = churned
    estimator = _estimators()[name]()
    if kind == "alone":
        X = X[NUMBERS]
        return estimator.fit(X, y), X, y
    prepare = ColumnTransformer(
        [
            ("numbers", "passthrough", NUMBERS),
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORIES),
        ]
    )
    model = Pipeline([("prepare", prepare), ("model", estimator)]).fit(X, y)
    return model, X, y


CASES = [(name, kind) for name in _estimators() for kind in ("alone", "pipeline")]


@pytest.fixture(scope="module")
def boosted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("boosted")
    paths = {}
    for name, kind in CASES:
        model, X, y = _fitted(name, kind)
        paths[f"{name}-{kind}"] = root / f"{name}-{kind}"
        dockyard.save_bundle(model, X, y, name=f"{name}-{kind}", path=paths[f"{name}-{kind}"])
    return paths


def _library(name: str) -> str:
    return "xgboost" if name.startswith("xgb") else "lightgbm"


def test_each_librarys_reviewed_types_are_exactly_what_its_estimators_need(
    tmp_path: Path,
) -> None:
    needed: dict[str, set[str]] = {"xgboost": set(), "lightgbm": set()}
    for name, kind in CASES:
        model = _fitted(name, kind)[0]
        sio.dump(model, tmp_path / "model.skops")
        needed[_library(name)] |= set(sio.get_untrusted_types(file=tmp_path / "model.skops"))
    sklearn_reviewed = set(REVIEWED_TRUSTED_TYPES) - {
        t for types in LIBRARY_TRUSTED_TYPES.values() for t in types
    }
    for library, types in needed.items():
        assert types - sklearn_reviewed == set(LIBRARY_TRUSTED_TYPES[library]), library
    assert set(LIBRARY_TRUSTED_TYPES["xgboost"]) <= set(REVIEWED_TRUSTED_TYPES)
    assert set(LIBRARY_TRUSTED_TYPES["lightgbm"]) <= set(REVIEWED_TRUSTED_TYPES)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_saved_without_trusted_types_and_exported_to_onnx(
    boosted: dict[str, Path], name: str, kind: str
) -> None:
    doc = json.loads((boosted[f"{name}-{kind}"] / "bundle.json").read_text())
    assert doc["model"]["trusted_types"] == []
    runtime = doc["runtime"]
    assert runtime["kind"] == "onnx", runtime.get("reason")
    assert runtime["max_difference"] <= runtime["tolerance"]
    packages = doc["environment"]["packages"]
    library = "lightgbm" if _library(name) == "lightgbm" else "xgboost-cpu"
    assert packages[library] == dockyard.bundle.environment.installed_version(library)
    assert not [p for p in packages if p.startswith("nvidia-")]


def _records(kind: str, rows: int = 30) -> list[dict[str, Any]]:
    X, _ = churn_frame(rows=rows, seed=7)
    if kind == "alone":
        return X[NUMBERS].to_dict("records")
    records: list[dict[str, Any]] = X.to_dict("records")
    records[0]["plan"] = "enterprise"  # never seen in training: the encoder ignores it
    return records


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_both_runtimes_give_the_same_labels(boosted: dict[str, Path], name: str, kind: str) -> None:
    path = boosted[f"{name}-{kind}"]
    onnx = Predictor.from_path(path, runtime="onnx")
    sklearn = Predictor.from_path(path, runtime="sklearn")
    assert (onnx.runtime, sklearn.runtime) == ("onnx", "sklearn")
    records = _records(kind)
    fast, slow = (
        onnx.predict_columns(onnx.validator.records(records)),
        sklearn.predict_columns(sklearn.validator.records(records)),
    )
    if name.endswith("classifier"):
        assert fast.outputs == slow.outputs
        assert fast.probabilities is not None
        assert slow.probabilities is not None
        np.testing.assert_allclose(
            fast.probabilities, slow.probabilities, atol=PROBABILITY_TOLERANCE
        )
        assert len(set(fast.outputs)) == 2
    else:
        np.testing.assert_allclose(fast.outputs, slow.outputs, rtol=1e-4)


@pytest.fixture(scope="module")
def client(boosted: dict[str, Path]) -> Iterator[TestClient]:
    predictors = [Predictor.from_path(path) for path in boosted.values()]
    app = create_app(Settings(max_batch_rows=500), predictors=predictors)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_served_scored_as_csv_and_shown(client: TestClient, name: str, kind: str) -> None:
    model = f"{name}-{kind}"
    records = _records(kind, rows=5)
    response = client.post(f"/v1/models/{model}/predict", json=records)
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert len(answers) == 5

    body = io.StringIO()
    writer = csv.DictWriter(body, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    scored = client.post(
        f"/v1/models/{model}/predict/csv",
        content=body.getvalue().encode(),
        headers={"content-type": "text/csv"},
    )
    assert scored.status_code == 200, scored.text
    rows = list(csv.DictReader(io.StringIO(scored.text)))
    assert len(rows) == 5

    page = client.get(f"/models/{model}")
    assert page.status_code == 200
    for feature in records[0]:
        assert f'name="{feature}"' in page.text
    figures = page.text.split('<img src="')[1:]
    assert figures, "the training report's figures are on the page"
    report = client.get(f"/models/{model}/report/index.html")
    assert report.status_code == 200
    assert "<img" in report.text


def test_a_type_outside_the_reviewed_list_is_refused(tmp_path: Path) -> None:
    X, y = churn_frame(rows=60)
    forest = xgboost.XGBRFClassifier(n_estimators=2, max_depth=2).fit(
        X[NUMBERS], (y == "yes").astype(int)
    )
    with pytest.raises(UntrustedTypes, match=r"xgboost\.sklearn\.XGBRFClassifier"):
        dockyard.save_bundle(
            forest, X[NUMBERS], (y == "yes").astype(int), name="rf", path=tmp_path / "rf"
        )


def test_a_version_skewed_bundle_is_refused_with_both_versions(
    boosted: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    path = tmp_path / "skewed"
    shutil.copytree(boosted["xgb-classifier-alone"], path)
    doc = json.loads((path / "bundle.json").read_text())
    installed = doc["environment"]["packages"]["xgboost-cpu"]
    doc["environment"]["packages"]["xgboost-cpu"] = "1.7.6"
    (path / "bundle.json").write_text(json.dumps(doc))
    for load in (
        lambda: load_bundle(path),
        lambda: Predictor.from_path(path, runtime="sklearn"),
    ):
        with pytest.raises(EnvironmentMismatch) as caught:
            load()
        assert f"xgboost-cpu 1.7.6 recorded, {installed} running" in str(caught.value)
        assert "xgboost-cpu==1.7.6" in caught.value.hint
    # The ONNX runtime needs no xgboost, but an installed one must still match.
    with pytest.raises(EnvironmentMismatch):
        Predictor.from_path(path, runtime="onnx")


def test_a_bundle_trained_with_xgboost_is_served_by_xgboost_cpu(
    boosted: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    path = tmp_path / "gpu-trained"
    shutil.copytree(boosted["xgb-regressor-pipeline"], path)
    doc = json.loads((path / "bundle.json").read_text())
    packages = doc["environment"]["packages"]
    packages["xgboost"] = packages.pop("xgboost-cpu")
    (path / "bundle.json").write_text(json.dumps(doc))
    assert load_bundle(path).environment_notes == ()


def test_a_tampered_bundle_is_refused(boosted: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "tampered"
    shutil.copytree(boosted["lgbm-classifier-pipeline"], path)
    data = bytearray((path / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "model.skops").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"model\.skops"):
        Predictor.from_path(path, runtime="sklearn")

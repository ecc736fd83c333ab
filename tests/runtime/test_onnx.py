from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dockyard
from dockyard.bundle import read_metadata
from dockyard.errors import BundleError
from dockyard.predictor import Predictor
from dockyard.runtime import export
from dockyard.runtime.onnx import OnnxModel
from tests.conftest import IRIS_SETOSA

EXAMPLES = ("iris", "wine", "churn", "diabetes")


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_get_a_verified_onnx_export(bundles: Path, name: str) -> None:
    meta = read_metadata(bundles / name)
    assert meta.runtime.kind == "onnx", meta.runtime.reason
    assert meta.runtime.path == "model.onnx"
    assert "model.onnx" in meta.files  # checksummed like every other file
    assert meta.runtime.checked_rows > 0
    assert meta.runtime.max_difference is not None
    assert meta.runtime.tolerance is not None
    assert meta.runtime.max_difference <= meta.runtime.tolerance
    assert set(meta.runtime.versions) == {"skl2onnx", "onnx", "onnxruntime"}


@pytest.mark.parametrize("name", EXAMPLES)
def test_onnx_agrees_with_scikit_learn(bundles: Path, name: str) -> None:
    fast = Predictor.from_path(bundles / name, runtime="onnx")
    exact = Predictor.from_path(bundles / name, runtime="sklearn")
    assert (fast.runtime, exact.runtime) == ("onnx", "sklearn")
    records = fast.metadata.input_example * 3
    a, b = (
        fast.predict_columns(fast.validator.records(records)),
        exact.predict_columns(exact.validator.records(records)),
    )
    if fast.task == "classification":
        assert a.outputs == b.outputs
        assert a.probabilities is not None
        assert b.probabilities is not None
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
        np.testing.assert_allclose(a.probabilities.sum(axis=1), 1.0, atol=1e-12)
    else:
        np.testing.assert_allclose(a.outputs, b.outputs, rtol=1e-4)


def test_auto_prefers_onnx_and_the_environment_can_say_otherwise(
    iris_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Predictor.from_path(iris_bundle).runtime == "onnx"
    monkeypatch.setenv("DOCKYARD_RUNTIME", "sklearn")
    assert Predictor.from_path(iris_bundle).runtime == "sklearn"
    monkeypatch.setenv("DOCKYARD_RUNTIME", "tpu")
    with pytest.raises(dockyard.DockyardError, match="not a runtime"):
        Predictor.from_path(iris_bundle)


def test_unconvertible_model_stays_on_scikit_learn_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DummyClassifier(strategy="prior").fit(X.to_numpy(), y.to_numpy())
    meta = dockyard.save_bundle(model, X, y, name="dummy", path=tmp_path / "dummy")
    assert meta.runtime.kind == "sklearn"
    assert "skl2onnx cannot convert DummyClassifier" in meta.runtime.reason
    assert "stays on the scikit-learn runtime" in caplog.text
    assert not (tmp_path / "dummy" / "model.onnx").exists()
    assert Predictor.from_path(tmp_path / "dummy").runtime == "sklearn"
    with pytest.raises(BundleError, match="cannot be served with ONNX Runtime"):
        Predictor.from_path(tmp_path / "dummy", runtime="onnx")


def test_disagreement_beyond_the_tolerance_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PROBABILITY_TOLERANCE", 0.0)
    monkeypatch.setattr(export, "DOUBLE_TOLERANCE", 0.0)
    meta = dockyard.train_example("iris", tmp_path / "iris")
    assert meta.runtime.kind == "sklearn"
    assert "probabilities differ from scikit-learn's by up to" in meta.runtime.reason


def test_bundles_without_the_field_load_as_scikit_learn(iris_bundle: Path) -> None:
    from dockyard.bundle.metadata import parse_metadata

    doc = read_metadata(iris_bundle).model_dump(mode="json")
    del doc["runtime"]
    assert parse_metadata(doc).runtime.kind == "sklearn"


def test_columns_and_a_matrix_give_the_same_answer(iris: Predictor) -> None:
    model = Predictor.from_path(iris.bundle.path, runtime="onnx").model
    assert isinstance(model, OnnxModel)
    labels, probabilities = model.run([[v] for v in IRIS_SETOSA.values()])
    assert labels.tolist() == ["setosa"]
    assert probabilities is not None
    assert probabilities.shape == (1, 3)
    matrix_labels, matrix_probabilities = model.run_matrix(np.array([list(IRIS_SETOSA.values())]))
    assert matrix_labels.tolist() == ["setosa"]
    np.testing.assert_array_equal(matrix_probabilities, probabilities)


def test_serves_without_scikit_learn_scipy_pandas_or_skops(iris_bundle: Path) -> None:
    # The slim image has none of them: make importing any of them fail, then serve.
    script = f"""
import sys
for name in ("sklearn", "scipy", "pandas", "skops", "matplotlib", "skl2onnx"):
    sys.modules[name] = None
from starlette.testclient import TestClient
from dockyard.server.app import create_app
from dockyard.settings import Settings
app = create_app(Settings(bundles=[{str(iris_bundle)!r}]))
with TestClient(app) as client:
    answer = client.post("/v1/models/iris/predict", json={IRIS_SETOSA!r})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == "setosa"
    scored = client.post("/v1/models/iris/predict/csv", content=b"sepal_length,sepal_width,petal_length,petal_width\\n5.1,3.5,1.4,0.2\\n", headers={{"content-type": "text/csv"}})
    assert scored.status_code == 200, scored.text
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

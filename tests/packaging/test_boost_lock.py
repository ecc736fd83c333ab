"""What an image installs for XGBoost and LightGBM bundles: the library at the recorded
version, CPU-only, and neither library in a slim image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import dockyard
from dockyard.bundle.environment import installed_version
from dockyard.bundle.store import read_metadata
from dockyard.packaging.lock import Target, requirements_for, resolve
from tests.conftest import churn_frame, require

xgboost = require("xgboost")
lightgbm = require("lightgbm")


def _names(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for line in requirements:
        req = Requirement(line)
        pins[req.name] = str(req.specifier).removeprefix("==")
    return pins


@pytest.fixture(scope="module")
def xgb_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = churn_frame(rows=60)
    X = X[["tenure_months", "monthly_spend"]]
    target = (y == "yes").astype(int)
    model = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, target)
    path = tmp_path_factory.mktemp("xgb") / "xgb"
    dockyard.save_bundle(model, X, target, name="xgb", path=path)
    return path


@pytest.fixture(scope="module")
def gpu_trained(xgb_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same bundle as if trained where xgboost (with CUDA) was installed, by an older
    Dockyard that recorded xgboost's nvidia-nccl-cu12 too."""
    import shutil

    path = tmp_path_factory.mktemp("gpu") / "xgb"
    shutil.copytree(xgb_bundle, path)
    doc = json.loads((path / "bundle.json").read_text())
    packages = doc["environment"]["packages"]
    packages["xgboost"] = packages.pop("xgboost-cpu")
    packages["nvidia-nccl-cu12"] = "2.28.9"
    (path / "bundle.json").write_text(json.dumps(doc))
    return path


def test_a_bundle_recording_xgboost_installs_xgboost_cpu_and_no_cuda(gpu_trained: Path) -> None:
    pins = _names(requirements_for([read_metadata(gpu_trained)]))
    assert pins["xgboost-cpu"] == installed_version("xgboost-cpu")
    assert "xgboost" not in pins
    assert not [name for name in pins if name.startswith("nvidia-")]


def test_the_library_is_installed_only_for_bundles_that_need_it(
    xgb_bundle: Path, iris_bundle: Path
) -> None:
    assert "xgboost-cpu" in _names(requirements_for([read_metadata(xgb_bundle)]))
    assert "xgboost-cpu" not in _names(requirements_for([read_metadata(iris_bundle)]))
    # A slim image serves the verified ONNX export, without the library.
    slim = _names(requirements_for([read_metadata(xgb_bundle)], slim=True))
    assert "xgboost-cpu" not in slim
    assert "onnxruntime" in slim


@pytest.mark.slow
def test_the_resolved_lock_has_no_cuda_library(
    gpu_trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path))
    roots = requirements_for([read_metadata(gpu_trained)])
    lock = resolve(roots, Target("3.11", "x86_64"), use_cache=False)
    names = {pin.name for pin in lock.pins}
    assert "xgboost-cpu" in names
    assert not [name for name in names if name.startswith("nvidia-")]

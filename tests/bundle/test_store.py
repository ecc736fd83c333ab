from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

import dockyard
from dockyard.bundle import bundle_digest, load_bundle, read_metadata
from dockyard.bundle.store import REVIEWED_TRUSTED_TYPES
from dockyard.errors import (
    BundleIntegrityError,
    BundleNotFound,
    BundleSchemaError,
    EnvironmentMismatch,
    UntrustedTypes,
)


@pytest.fixture
def iris_copy(iris_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(iris_bundle, tmp_path / "iris"))


def _edit_metadata(bundle: Path, change: dict) -> None:
    path = bundle / "bundle.json"
    doc = json.loads(path.read_text())
    for key, value in change.items():
        target = doc
        *parents, last = key.split(".")
        for parent in parents:
            target = target[parent]
        target[last] = value
    path.write_text(json.dumps(doc))


def test_loads_and_verifies(iris_bundle: Path) -> None:
    bundle = load_bundle(iris_bundle)
    assert bundle.metadata.name == "iris"
    assert bundle.digest == bundle_digest(iris_bundle)
    assert len(bundle.digest) == 64


def test_tampered_model_is_refused_naming_the_file(iris_copy: Path) -> None:
    model = iris_copy / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"model\.skops has sha256"):
        load_bundle(iris_copy)


def test_truncated_model_is_refused(iris_copy: Path) -> None:
    model = iris_copy / "model.skops"
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(BundleIntegrityError, match="modified or truncated"):
        load_bundle(iris_copy)


def test_missing_file_is_refused(iris_copy: Path) -> None:
    (iris_copy / "model.skops").unlink()
    with pytest.raises(BundleIntegrityError, match=r"model\.skops is missing"):
        read_metadata(iris_copy)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleNotFound, match="not a directory"):
        read_metadata(tmp_path / "nope")
    with pytest.raises(BundleNotFound, match=r"no bundle\.json"):
        read_metadata(tmp_path)


def test_version_mismatch_is_refused_with_both_versions_and_the_fix(iris_copy: Path) -> None:
    _edit_metadata(iris_copy, {"environment.packages.scikit-learn": "0.24.2"})
    with pytest.raises(EnvironmentMismatch) as caught:
        load_bundle(iris_copy)
    message = str(caught.value)
    assert "scikit-learn 0.24.2 recorded" in message
    assert "running" in message
    assert "pip install" in message
    assert "scikit-learn==0.24.2" in message
    # The command that loads the bundle names its flag (tests/cli), the library does not.
    assert "--" not in message


def test_version_mismatch_can_be_overridden(
    iris_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _edit_metadata(iris_copy, {"environment.packages.numpy": "1.0.0"})
    bundle = load_bundle(iris_copy, allow_version_mismatch=True)
    assert any("numpy 1.0.0 recorded" in note for note in bundle.environment_notes)
    assert "numpy 1.0.0 recorded" in caplog.text


def test_newer_schema_is_refused(iris_copy: Path) -> None:
    _edit_metadata(iris_copy, {"schema_version": 99})
    with pytest.raises(BundleSchemaError, match=r"schema 99.*Upgrade Dockyard"):
        read_metadata(iris_copy)


def test_invalid_metadata_is_refused(iris_copy: Path) -> None:
    _edit_metadata(iris_copy, {"task": "ranking"})
    with pytest.raises(BundleSchemaError, match="task"):
        read_metadata(iris_copy)
    (iris_copy / "bundle.json").write_text("{not json")
    with pytest.raises(BundleSchemaError, match="not valid JSON"):
        read_metadata(iris_copy)


def test_pickle_format_is_refused(iris_copy: Path) -> None:
    _edit_metadata(iris_copy, {"model.format": "pickle"})
    with pytest.raises(UntrustedTypes, match="arbitrary code"):
        load_bundle(iris_copy)


def test_unreviewed_types_are_refused_unless_trusted(
    wine_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "dockyard.bundle.store.REVIEWED_TRUSTED_TYPES",
        tuple(t for t in REVIEWED_TRUSTED_TYPES if t != "sklearn.tree._tree.Tree"),
    )
    with pytest.raises(UntrustedTypes, match=r"sklearn\.tree\._tree\.Tree") as caught:
        load_bundle(wine_bundle)
    # The library names the types; the command that loads the bundle names its flag.
    assert caught.value.types == ("sklearn.tree._tree.Tree",)
    assert "--" not in str(caught.value)
    assert load_bundle(wine_bundle, trusted_types=["sklearn.tree._tree.Tree"]).model is not None


def test_checksum_paths_cannot_escape_the_bundle(iris_copy: Path) -> None:
    doc = json.loads((iris_copy / "bundle.json").read_text())
    doc["files"]["../outside"] = "0" * 64
    (iris_copy / "bundle.json").write_text(json.dumps(doc))
    with pytest.raises(BundleIntegrityError, match="outside the bundle"):
        read_metadata(iris_copy)


def _onnx_bundle(iris_bundle: Path) -> Path:
    meta = read_metadata(iris_bundle)
    assert meta.runtime.kind == "onnx", meta.runtime.reason
    return iris_bundle


def test_onnx_path_checks_the_onnxruntime_that_verified_the_export(
    iris_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.runtime.loading import load_for_serving

    copy = Path(shutil.copytree(_onnx_bundle(iris_bundle), tmp_path / "iris"))
    _edit_metadata(copy, {"runtime.versions.onnxruntime": "0.1.0"})
    with pytest.raises(EnvironmentMismatch, match=r"onnxruntime 0\.1\.0 recorded"):
        load_for_serving(copy, runtime="onnx")
    notes = load_for_serving(copy, runtime="onnx", allow_version_mismatch=True).environment_notes
    assert any("onnxruntime 0.1.0" in n for n in notes)


def test_onnx_path_needs_no_scikit_learn_but_refuses_a_different_one(
    iris_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.bundle import environment
    from dockyard.runtime.loading import load_for_serving

    bundle = _onnx_bundle(iris_bundle)
    real = environment.installed_version
    training_only = {"scikit-learn", "scipy", "joblib", "threadpoolctl", "skops", "narwhals"}
    # The slim image: the training stack is simply not installed.
    monkeypatch.setattr(
        environment, "installed_version", lambda n: None if n in training_only else real(n)
    )
    assert load_for_serving(bundle, runtime="onnx").metadata.name == "iris"
    with pytest.raises(EnvironmentMismatch, match="scikit-learn"):
        load_for_serving(bundle, runtime="sklearn")
    # A host with a different scikit-learn than the one recorded is refused either way.
    monkeypatch.setattr(
        environment, "installed_version", lambda n: "0.20.0" if n == "scikit-learn" else real(n)
    )
    with pytest.raises(EnvironmentMismatch, match=r"scikit-learn .* recorded, 0\.20\.0 running"):
        load_for_serving(bundle, runtime="onnx")


@pytest.mark.parametrize(
    ("mask", "directories", "files"), [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)]
)
def test_a_saved_bundle_follows_the_umask(
    tmp_path: Path, umask: Callable[[int], int], mask: int, directories: int, files: int
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    umask(mask)
    bundle = tmp_path / "tree"
    dockyard.save_bundle(model, X, y, X_test=X, y_test=y, name="tree", path=bundle)
    modes = {
        path.relative_to(tmp_path).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in (bundle, *bundle.rglob("*"))
    }
    assert "tree/bundle.json" in modes
    assert modes == {name: directories if (tmp_path / name).is_dir() else files for name in modes}
    assert [p.name for p in tmp_path.iterdir()] == ["tree"]  # no temporary directory left

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.bundle import read_metadata
from dockyard.errors import PackagingError
from dockyard.packaging.lock import Lock, Pin, Target, requirements_for


def _names(requirements: list[str]) -> set[str]:
    return {r.split("=", 1)[0].split(">", 1)[0] for r in requirements}


def test_serving_requirements_pin_recorded_versions_and_leave_pandas_out(iris_bundle: Path) -> None:
    meta = read_metadata(iris_bundle)
    requirements = requirements_for([meta])
    assert f"scikit-learn=={meta.environment.packages['scikit-learn']}" in requirements
    assert f"numpy=={meta.environment.packages['numpy']}" in requirements
    assert {"uvicorn", "skops", "pydantic", "typer", "orjson"} <= _names(requirements)
    # Iris is fitted on an array: the serving image must not carry pandas.
    assert "pandas" not in meta.environment.packages
    assert "pandas" not in _names(requirements)


def test_pandas_comes_in_when_a_bundle_records_it(churn_bundle: Path) -> None:
    meta = read_metadata(churn_bundle)
    assert "pandas" in meta.environment.packages
    assert f"pandas=={meta.environment.packages['pandas']}" in requirements_for([meta])


def test_training_requirements_include_pandas() -> None:
    assert "pandas" in _names(requirements_for([], training=True))


def test_bundles_recording_different_versions_are_refused(iris_bundle: Path) -> None:
    meta = read_metadata(iris_bundle)
    packages = dict(meta.environment.packages, numpy="1.0.0")
    other = meta.model_copy(
        update={
            "name": "other",
            "environment": meta.environment.model_copy(update={"packages": packages}),
        }
    )
    with pytest.raises(PackagingError, match="one image has one environment"):
        requirements_for([meta, other])


def test_lock_round_trips_through_its_text() -> None:
    lock = Lock(
        Target("3.11", "x86_64"),
        (Pin("numpy", "2.0.0", "a" * 64, "numpy-2.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"),),
    )
    text = lock.render()
    assert "numpy==2.0.0 --hash=sha256:" + "a" * 64 in text
    assert Lock.parse(text) == lock


def test_a_foreign_file_is_not_a_lock() -> None:
    with pytest.raises(PackagingError, match=r"malformed|not written by Dockyard"):
        Lock.parse("# just a comment\n")


def test_target_platform_arguments() -> None:
    target = Target.for_python("3.11.7", "amd64")
    assert target == Target("3.11", "x86_64")
    args = target.pip_args()
    assert args[:1] == ["--only-binary=:all:"]
    assert "manylinux_2_28_x86_64" in args
    assert "cp311" in args
    with pytest.raises(PackagingError):
        Target.for_python("3.11", "sparc")


def test_a_target_takes_the_feature_release_of_any_python_version() -> None:
    assert Target.for_python("3.14rc1", "x86_64").python == "3.14"
    assert Target.for_python("3.13.0b2", "x86_64").abi == "cp313"
    with pytest.raises(PackagingError, match="not a Python version"):
        Target.for_python("three", "x86_64")

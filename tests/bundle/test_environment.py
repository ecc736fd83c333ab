from __future__ import annotations

import importlib.metadata as md

from dockyard.bundle.environment import compare, installed_version, same_python, same_version


def test_installed_version_agrees_with_importlib_metadata() -> None:
    names = {dist.metadata["Name"] for dist in md.distributions()}
    assert {"numpy", "scikit-learn", "onnxruntime"} <= names
    assert {n: installed_version(n) for n in names} == {n: md.version(n) for n in names}


def test_installed_version_of_a_missing_package_is_none() -> None:
    assert installed_version("dockyard-no-such-package") is None


def test_compare_words_differences_for_people() -> None:
    numpy = md.version("numpy")
    refusals, warnings = compare(
        {"numpy": "0.1", "orjson": "0.1", "dockyard-no-such-package": "1.0", "absent-ok": "1"},
        may_be_absent={"absent-ok"},
    )
    assert refusals == [
        f"numpy 0.1 recorded, {numpy} running",
        "dockyard-no-such-package 1.0 recorded, not installed running",
    ]
    assert warnings == [f"orjson 0.1 recorded, {md.version('orjson')} running"]


def test_versions_are_compared_as_pep_440_versions() -> None:
    # 2.1 and 2.1.0 are one version: a recorded "2.1.0" is no mismatch for "2.1" running.
    numpy = md.version("numpy")
    assert compare({"numpy": numpy + ".0"}) == ([], [])
    assert same_version("2.1", "2.1.0")
    assert not same_version("2.1", "2.1.1")
    assert same_version("not a version", "not a version")


def test_python_versions_match_by_feature_release() -> None:
    assert same_python("3.11.4", "3.11.9")
    assert same_python("3.13.0rc2", "3.13.1")
    assert not same_python("3.11.4", "3.12.0")
    # A pre-release of a .0 written without the patch number is still 3.14.
    assert same_python("3.14rc1", "3.14.0")

from __future__ import annotations

import importlib.metadata as md

from dockyard.bundle.environment import compare, installed_version


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

"""Registry references and the in-image bundle check, without an engine."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import dockyard
from dockyard.errors import PackagingError
from dockyard.packaging import bundlecheck
from dockyard.packaging.registry import Identity, _split, _tag, check_registry


def test_tags_come_from_the_labels() -> None:
    one = Identity({"iris": "ab" * 32}, {"iris": "1.0.0"})
    assert (one.repository_name, one.version_tag, one.digest_tag) == (
        "iris",
        "1.0.0",
        "sha256-" + "ab" * 32,
    )
    two = Identity({"wine": "cd" * 32, "iris": "ab" * 32}, {"iris": "1.0.0", "wine": "2+local"})
    assert (two.repository_name, two.version_tag) == ("iris-wine", "1.0.0-2-local")
    lines = f"iris {'ab' * 32}\nwine {'cd' * 32}\n"
    assert two.digest == hashlib.sha256(lines.encode()).hexdigest()


def test_tags_are_valid_docker_tags() -> None:
    assert _tag("1.0.0+build.7") == "1.0.0-build.7"
    assert _tag(".hidden") == "v.hidden"
    assert len(_tag("x" * 300)) == 128


@pytest.mark.parametrize("good", ["127.0.0.1:5000", "registry.example", "reg.example:443/team/ml"])
def test_registry_addresses(good: str) -> None:
    assert check_registry(good + "/") == good


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("http://127.0.0.1:5000", "not a URL"),
        ("a b:1", "not a registry"),
        ("host:port", "not a registry"),
    ],
)
def test_bad_registry_addresses_are_refused(bad: str, message: str) -> None:
    with pytest.raises(PackagingError, match=message):
        check_registry(bad)


def test_references_split_into_repository_and_tag() -> None:
    assert _split("127.0.0.1:5000/iris:1.0.0") == ("127.0.0.1:5000/iris", "1.0.0")
    assert _split("127.0.0.1:5000/iris") == ("127.0.0.1:5000/iris", "latest")
    assert _split("127.0.0.1:5000/iris@sha256:" + "0" * 64) == (
        "127.0.0.1:5000/iris",
        "sha256:" + "0" * 64,
    )


def _check(bundle: Path) -> dict[str, object]:
    meta = dockyard.read_metadata(bundle)
    return bundlecheck.check(str(bundle), dockyard.bundle_digest(bundle), meta.version)


def test_bundle_check_passes_an_untouched_bundle(iris_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "iris"
    shutil.copytree(iris_bundle, copy)
    result = _check(copy)
    assert result == {
        "ok": True,
        "files": len(dockyard.read_metadata(iris_bundle).files),
        "problems": [],
    }


def test_bundle_check_names_each_problem(iris_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "iris"
    shutil.copytree(iris_bundle, copy)
    expected = dockyard.bundle_digest(copy)
    with (copy / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    (copy / "notes.txt").write_text("added")
    report = next(iter(dockyard.read_metadata(copy, verify=False).files))
    (copy / report).unlink()
    result = bundlecheck.check(str(copy), expected, "2.0.0")
    problems = "\n".join(str(p) for p in result["problems"])  # type: ignore[attr-defined]
    assert result["ok"] is False
    assert "model.skops has sha256" in problems
    assert "notes.txt is not part of the bundle" in problems
    assert f"{report} is missing" in problems
    assert "says version 1.0.0, the labels say 2.0.0" in problems
    assert "bundle.json has sha256" not in problems


def test_bundle_check_main_prints_json_lines(
    iris_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(iris_bundle, tmp_path / "iris")
    monkeypatch.setattr(bundlecheck, "MODELS_DIR", str(tmp_path))
    promise = {"iris": {"sha256": "0" * 64, "version": "1.0.0"}}
    assert bundlecheck.main([json.dumps(promise)]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["model"] == "iris"
    assert line["problems"] == [
        f"bundle.json has sha256 {dockyard.bundle_digest(iris_bundle)}, the labels say {'0' * 64}"
    ]

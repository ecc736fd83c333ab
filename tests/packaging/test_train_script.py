"""``dockyard train train.py --in-container``: a user's script, its own requirements, offline,
reproducible, and a serving image with the very versions it was trained with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.cli.main import main
from dockyard.packaging.images import build_image
from dockyard.packaging.lock import Lock
from dockyard.training.reproducible import compare
from tests.packaging import served
from tests.training import scripts

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REQUIREMENTS = "inflection==0.5.1\n"


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scripts.project(
        tmp_path_factory.mktemp("project"), scripts.CHURN_WITH_REQUIREMENT, REQUIREMENTS
    )


def _train(project: Path, base_image: str, out: Path, *extra: str, script: str = "train.py") -> int:
    return main(
        [
            "train", str(project.parent / script), "--in-container", "--offline",
            "--base-image", base_image, "--requirements", str(project.parent / "requirements.txt"),
            "--data", str(project.parent / "data"), "--out", str(out), *extra,
        ]
    )  # fmt: skip


@pytest.fixture(scope="session")
def trained(
    project: Path, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The user's script trained twice in the container (the image is built once)."""
    root = tmp_path_factory.mktemp("trained")
    first, second = root / "first" / "churn-model", root / "second" / "churn-model"
    assert _train(project, base_image, first) == 0
    assert _train(project, base_image, second) == 0
    return first, second


def test_script_trains_offline_in_the_container_reproducibly(
    trained: tuple[Path, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    first, second = trained
    meta = dockyard.read_metadata(first)
    assert meta.name == "churn-model"
    assert meta.model.estimator == "sklearn.pipeline.Pipeline"
    assert [f.type for f in meta.features] == ["category", "category", "integer", "number"]
    assert meta.training is not None
    assert meta.training.image.startswith("sha256:")
    lock = Lock.parse((first / meta.training.lock).read_text(encoding="utf-8"))
    assert {p.name: p.version for p in lock.pins}["inflection"] == "0.5.1"
    for name in ("model.skops", "model.onnx"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert compare(first, second) == []
    assert dockyard.read_metadata(second).training == meta.training
    capfd.readouterr()
    assert main(["inspect", str(first)]) == 0
    assert f"trained in image {meta.training.image} from training.lock" in capfd.readouterr().out


def test_serving_image_has_the_training_versions(
    trained: tuple[Path, Path], docker_client: Any, base_image: str, containers: list[Any]
) -> None:
    bundle = trained[0]
    meta = dockyard.read_metadata(bundle)
    assert meta.training is not None
    trained_with = {
        p.name: p.version
        for p in Lock.parse((bundle / meta.training.lock).read_text(encoding="utf-8")).pins
    }
    image = build_image(
        [bundle], console=served.console(), tag="dockyard-test/churn:trained-script",
        base_image=base_image, offline=True, client=docker_client,
    )  # fmt: skip
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): d.version "
        "for d in m.distributions()}))"
    )
    serving = json.loads(served.python_in(docker_client, image.tag, code))
    shared = sorted(set(serving) & set(trained_with))
    assert {"scikit-learn", "numpy", "scipy", "skops"} <= set(shared)
    assert {n: serving[n] for n in shared} == {n: trained_with[n] for n in shared}
    assert "inflection" not in serving  # what only training needed stays out
    served.assert_serves_like_local(docker_client, image.tag, bundle, containers)


@pytest.mark.parametrize(
    ("script", "extra", "expected"),
    [
        (scripts.NEVER_SAVES, (), "finished without saving a bundle"),
        (scripts.MISSING_MODULE, (), "imports 'dockyard_missing_package', which is not installed"),
        (scripts.NETWORK, (), "tried to reach the network, which is off"),
        (scripts.GREEDY, ("--memory", "256m"), "ran out of memory"),
    ],
)
def test_failures_are_one_line_and_non_zero(
    project: Path,
    base_image: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    script: str,
    extra: tuple[str, ...],
    expected: str,
    trained: tuple[Path, Path],  # the image exists by then
) -> None:
    (project.parent / "failing.py").write_text(script, encoding="utf-8")
    status = _train(project, base_image, tmp_path / "out", *extra, script="failing.py")
    assert status == 4
    err = capfd.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "bundle.json").exists()

"""An offline build checks, before any work, that the images it starts FROM are local."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.main import main
from dockyard.errors import DockerError, ExitCode
from dockyard.packaging import images
from dockyard.packaging.images import base_images
from tests.packaging import served

ABSENT = "dockyard-test/absent-base:never"


class _Started(Exception):
    """Raised where the build would start its work (locking, fetching wheels)."""


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def write_context(*args: Any, **kwargs: Any) -> None:
        raise _Started

    monkeypatch.setattr(images, "write_context", write_context)


def test_the_images_a_build_starts_from(iris_bundle: Path) -> None:
    # As write_context chooses them (tests/packaging/test_dockerfile.py and test_slim.py
    # check its python:3.11-slim base and FROM python:3.11 AS numpy).
    assert base_images([iris_bundle], None, False, False, None) == ["python:3.11-slim"]
    assert base_images([iris_bundle], None, True, False, None) == [
        "python:3.11-slim",
        "python:3.11",
    ]
    assert base_images([iris_bundle], None, True, True, None) == ["python:3.11-slim"]
    assert base_images([iris_bundle], "a:1", True, False, "b:1") == ["a:1", "b:1"]


@pytest.mark.docker
@pytest.mark.parametrize("offline", [["--offline"], ["--wheelhouse", "wheels"]])
def test_an_offline_build_without_its_base_fails_at_once_saying_how_to_bring_it(
    docker_client: Any,
    iris_bundle: Path,
    no_work: None,
    offline: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["build", str(iris_bundle), *offline, "--base-image", ABSENT])
    assert code == ExitCode.DOCKER
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert (
        f"The base image {ABSENT} is not on this engine, and an --offline build cannot pull it."
        in err
    )
    assert f"'docker pull {ABSENT}' on a connected machine" in err
    assert "'docker load -i base.tar'" in err


@pytest.mark.docker
def test_a_slim_offline_build_checks_its_build_image_too(
    docker_client: Any, base_image: str, iris_bundle: Path, no_work: None
) -> None:
    with pytest.raises(DockerError) as refused:
        images.build_image(
            [iris_bundle], console=served.console(), base_image=base_image, build_base=ABSENT,
            slim=True, offline=True, client=docker_client,
        )  # fmt: skip
    assert str(refused.value).startswith(f"The base image {ABSENT} is not on this engine")
    # Both local: the build starts.
    with pytest.raises(_Started):
        images.build_image(
            [iris_bundle], console=served.console(), base_image=base_image, build_base=base_image,
            slim=True, offline=True, client=docker_client,
        )  # fmt: skip


@pytest.mark.docker
def test_a_build_with_network_may_pull_its_base(
    docker_client: Any, iris_bundle: Path, no_work: None
) -> None:
    with pytest.raises(_Started):
        images.build_image(
            [iris_bundle], console=served.console(), base_image=ABSENT, client=docker_client
        )

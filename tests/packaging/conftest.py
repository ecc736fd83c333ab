from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import DockerError
from tests.conftest import missing_prerequisite
from tests.packaging import leftovers, served
from tests.processes import free_port

BASE_IMAGE = os.environ.get("DOCKYARD_TEST_BASE_IMAGE", "dockyard-test-base:bookworm")
# The stand-in for python:3.11 (the base plus compilers), where slim images compile numpy.
BUILD_IMAGE = os.environ.get("DOCKYARD_TEST_BUILD_IMAGE", "dockyard-test-build:bookworm")


_SESSION = pytest.StashKey[leftovers.Session]()


@pytest.fixture(scope="session")
def docker_client(pytestconfig: pytest.Config) -> Iterator[Any]:
    """The engine; the images the session makes there are removed when it ends
    (tests/packaging/leftovers.py), and the terminal summary says what that took."""
    from dockyard.packaging import engine

    try:
        client = engine.connect()
    except DockerError as exc:
        missing_prerequisite(f"no Docker engine: {exc}")
    session = pytestconfig.stash[_SESSION] = leftovers.Session.begin(client)
    yield client
    session.end()


@pytest.fixture(scope="session")
def held_images(docker_client: Any, pytestconfig: pytest.Config) -> set[str]:
    """Add the name of an image a session-scoped fixture builds: it stays until the session
    ends, for the modules after the one that built it."""
    return pytestconfig.stash[_SESSION].held


@pytest.fixture(scope="module", autouse=True)
def _module_images(pytestconfig: pytest.Config) -> Iterator[None]:
    """The names a module's tests gave images go when the module ends; their build steps
    stay as the next modules' cache, and the session's clean-up removes them."""
    session = pytestconfig.stash.get(_SESSION, None)
    before = leftovers.snapshot(session.client) if session is not None else None
    yield
    session = pytestconfig.stash.get(_SESSION, None)
    if session is not None:
        session.end_module(before)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(_SESSION, None)
    if session is not None and session.report:
        terminalreporter.write_sep("-", "images on the Docker engine")
        for line in session.report:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    from dockyard.packaging import engine

    if engine.image_size(docker_client, BASE_IMAGE) is None:
        missing_prerequisite(f"base image {BASE_IMAGE} is missing (scripts/ci-system builds it)")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def build_base(docker_client: Any) -> str:
    from dockyard.packaging import engine

    if engine.image_size(docker_client, BUILD_IMAGE) is None:
        missing_prerequisite(f"build image {BUILD_IMAGE} is missing (scripts/ci-system builds it)")
    return BUILD_IMAGE


@pytest.fixture(scope="session")
def iris_image(
    docker_client: Any,
    base_image: str,
    iris_bundle: Path,
    held_images: set[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    from dockyard.packaging.images import build_image

    held_images.add("dockyard-test/iris:e2e")
    return build_image(
        [iris_bundle], console=served.console(), tag="dockyard-test/iris:e2e", base_image=base_image,
        offline=True, client=docker_client, sbom_dir=tmp_path_factory.mktemp("sbom"),
    )  # fmt: skip


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/v2/")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Distribution registry (Debian's docker-registry) on 127.0.0.1, plain HTTP,
    which the engine allows for loopback addresses; stopped by its PID."""
    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not os.access(binary, os.X_OK):
        missing_prerequisite("docker-registry is not installed (scripts/ci-system installs it)")
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (root / "registry.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"docker-registry did not start on port {port}:\n{tail}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def containers(docker_client: Any) -> Iterator[list[Any]]:
    """Containers a test starts; removed (forcibly) when it ends, pass or fail."""
    started: list[Any] = []
    yield started
    for container in started:
        container.remove(force=True)

from __future__ import annotations

import os
from typing import Any

import pytest

from dockyard.errors import DockerError

BASE_IMAGE = os.environ.get("DOCKYARD_TEST_BASE_IMAGE", "dockyard-test-base:bookworm")


def _unavailable(reason: str) -> None:
    # On a laptop without Docker these tests skip; in CI a missing engine is a failure.
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client() -> Any:
    from dockyard.packaging import engine

    try:
        return engine.connect()
    except DockerError as exc:
        _unavailable(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    from dockyard.packaging import engine

    if engine.image_size(docker_client, BASE_IMAGE) is None:
        _unavailable(f"base image {BASE_IMAGE} is missing (scripts/ci-system builds it)")
    return BASE_IMAGE

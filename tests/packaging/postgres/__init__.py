"""The stand-in for the official ``postgres`` image (no image registry is reachable in the
tests): Debian's PostgreSQL on the test base image, with the official entrypoint's contract."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import docker

from dockyard.packaging import engine
from tests.conftest import missing_prerequisite

HERE = Path(__file__).parent
SOURCES = ("Dockerfile", "entrypoint.sh")


def stand_in_image(client: Any, base_image: str) -> str:
    """The image's tag, built on first use; the tag hashes its sources and base image.
    Its build installs Debian's package from the mirror the base image names: without it,
    the tests that need the image skip (fail with CI=true)."""
    digest = hashlib.sha256(client.images.get(base_image).id.encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    tag = f"dockyard-test/postgres:{digest.hexdigest()[:12]}"
    if engine.image_size(client, tag) is None:
        try:
            client.images.build(
                path=str(HERE), tag=tag, buildargs={"BASE_IMAGE": base_image}, forcerm=True
            )
        except docker.errors.BuildError as exc:
            said = "\n".join(str(part.get("stream", "")).rstrip() for part in exc.build_log)
            missing_prerequisite(f"the stand-in PostgreSQL image did not build:\n{said[-1500:]}")
    return tag

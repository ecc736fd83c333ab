"""The stand-in for the official ``postgres`` image (no image registry is reachable in the
tests): Debian's PostgreSQL on the test base image, with the official entrypoint's contract."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SOURCES = ("Dockerfile", "entrypoint.sh")


def stand_in_image(client: Any, base_image: str) -> str:
    """The image's tag, built on first use; the tag hashes its sources and base image."""
    from dockyard.packaging import engine

    digest = hashlib.sha256(client.images.get(base_image).id.encode())
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes())
    tag = f"dockyard-test/postgres:{digest.hexdigest()[:12]}"
    if engine.image_size(client, tag) is None:
        client.images.build(path=str(HERE), tag=tag, buildargs={"BASE_IMAGE": base_image}, rm=True)
    return tag

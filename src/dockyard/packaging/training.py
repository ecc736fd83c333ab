"""``dockyard train --in-container``: train in an image built from the same locked environment.

The training image has the serving image's lock plus the training-only packages (pandas),
so the bundle records exactly the versions a serving image of it installs. The output
directory's parent is mounted at /out and the container runs as the caller's UID/GID, so
the bundle on the host belongs to the caller, not to root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dockyard.__about__ import __version__
from dockyard.cli.console import err
from dockyard.errors import DockerError, TrainingError
from dockyard.packaging import engine
from dockyard.packaging.images import build_image

CONTAINER_OUT = "/out"


def train_in_container(
    example: str, out: Path, *, base_image: str, wheelhouse: Path | None, version: str
) -> None:
    """Train the built-in ``example`` inside a container and write its bundle to ``out``."""
    out = Path(out).resolve()
    if out.exists():
        raise TrainingError(
            f"{out} already exists.", hint="Choose another --out or remove it first."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    client = engine.connect()
    tag = f"dockyard-train:{__version__}"
    built = build_image(
        [],
        console=err,
        tag=tag,
        base_image=base_image,
        wheels=wheelhouse,
        kind="train",
        client=client,
    )
    err.print(built.describe())
    command = [example, "--out", f"{CONTAINER_OUT}/{out.name}", "--version", version]
    container = _start(client, tag, command, out.parent)
    try:
        with err.status(f"Training {example} in a container…"):
            result = container.wait()
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    if result.get("StatusCode") != 0:
        raise TrainingError(
            f"Training in the container failed (exit {result.get('StatusCode')}):\n{logs.strip()}"
        )


def _start(client: Any, image: str, command: list[str], mount: Path) -> Any:
    docker = engine._sdk()
    user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    try:
        return client.containers.run(
            image,
            command=command,
            detach=True,
            user=user,
            volumes={str(mount): {"bind": CONTAINER_OUT, "mode": "rw"}},
            # Training reads only data shipped inside scikit-learn: it needs no network.
            network_disabled=True,
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=256m"},  # noqa: S108 - the container's own tmpfs
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    except docker.errors.DockerException as exc:
        raise DockerError(f"Could not start the training container: {exc}") from None

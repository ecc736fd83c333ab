"""``dockyard train --in-container``: train in an image built from the same locked environment.

The training image is the serving environment plus training: Dockyard's serving lock, the
training-only packages (pandas, the report's plots, the ONNX export) and the user's own
requirements, locked together with hashes (:mod:`dockyard.packaging.trainlock`). The image
carries that lock, and ``save_bundle()`` copies it into the bundle with the image's id, so a
serving image of the bundle installs exactly the same versions.

The container runs ``dockyard train SCRIPT`` as the caller's UID/GID, with the script's
directory and ``--data`` mounted read-only, the output directory's parent writable at /out,
a read-only root, no capabilities, a memory limit and, unless ``network``, no network. Its
output streams to the terminal as it comes; its exit code is returned.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from dockyard.__about__ import __version__
from dockyard.errors import DockerError, TrainingError
from dockyard.packaging import engine
from dockyard.packaging.images import build_image
from dockyard.training.contract import IMAGE_ENV
from dockyard.training.runner import MEMORY_ENV, NETWORK_ENV

CONTAINER_OUT = "/out"
CONTAINER_SCRIPT = "/script"
CONTAINER_DATA = "/data"
DEFAULT_MEMORY = "4g"


@dataclass(frozen=True, slots=True)
class Run:
    """How the training container runs: what it sees and what it may use."""

    data: Path | None = None
    network: bool = False
    memory: str = DEFAULT_MEMORY
    version: str | None = None


def build_training_image(
    client: Any,
    *,
    requirements: Sequence[str] = (),
    base_image: str,
    wheelhouse: Path | None = None,
    offline: bool = False,
    console: Console,
) -> engine.Built:
    """Build (or reuse, from the engine's cache) the training image for ``requirements``,
    showing the build's progress on ``console``."""
    suffix = (
        "-" + hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
        if requirements
        else ""
    )
    built = build_image(
        [],
        console=console,
        tag=f"dockyard-train:{__version__}{suffix}",
        base_image=base_image,
        offline=offline,
        wheels=wheelhouse,
        kind="train",
        client=client,
        requirements=requirements,
    )
    return built


def run_training(client: Any, image: engine.Built, target: str, out: Path, run: Run) -> int:
    """Run ``dockyard train TARGET --out`` in ``image``; ``TARGET`` is a built-in example or a
    script on the host. Returns the container's exit code; the bundle lands in ``out``."""
    out = Path(out).resolve()
    if out.exists():
        raise TrainingError(
            f"{out} already exists.", hint="Choose another --out or pass --overwrite."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    volumes = {str(out.parent): {"bind": CONTAINER_OUT, "mode": "rw"}}
    command = [target]
    script = Path(target)
    if script.suffix == ".py":
        script = script.resolve()
        volumes[str(script.parent)] = {"bind": CONTAINER_SCRIPT, "mode": "ro"}
        command = [f"{CONTAINER_SCRIPT}/{script.name}"]
    if run.data is not None:
        volumes[str(run.data.resolve())] = {"bind": CONTAINER_DATA, "mode": "ro"}
        command += ["--data", CONTAINER_DATA]
    command += ["--out", f"{CONTAINER_OUT}/{out.name}"]
    if run.version is not None:
        command += ["--version", run.version]
    environment = {
        IMAGE_ENV: image.image_id,
        NETWORK_ENV: "on" if run.network else "off",
        MEMORY_ENV: run.memory,
    }
    if "SOURCE_DATE_EPOCH" in os.environ:
        environment["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    container = _start(client, image.tag, command, volumes, environment, run)
    try:
        _stream(container)
        status = int(container.wait().get("StatusCode", 1))
        container.reload()
        oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
    finally:
        container.remove(force=True)
    if oom or status == 137:
        raise TrainingError(
            f"Training ran out of memory: the container's limit is {run.memory}.",
            hint="Raise it with --memory (e.g. --memory 8g), or load less of the data.",
        )
    return status


def _stream(container: Any) -> None:
    """The container's stdout and stderr to ours, each as it comes, until it exits."""
    sinks = {"stdout": sys.stdout, "stderr": sys.stderr}
    streams = {
        name: container.logs(
            stdout=name == "stdout", stderr=name == "stderr", stream=True, follow=True
        )
        for name in sinks
    }

    def pump(name: str) -> None:
        for chunk in streams[name]:
            sinks[name].write(chunk.decode(errors="replace"))
            sinks[name].flush()

    threads = [threading.Thread(target=pump, args=(name,), daemon=True) for name in sinks]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for stream in streams.values():
            stream.close()


def _start(
    client: Any,
    image: str,
    command: list[str],
    volumes: dict[str, dict[str, str]],
    environment: dict[str, str],
    run: Run,
) -> Any:
    docker = engine.sdk()
    user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
    try:
        return client.containers.run(
            image,
            command=command,
            detach=True,
            user=user,
            volumes=volumes,
            environment=environment,
            network_disabled=not run.network,
            mem_limit=run.memory,
            memswap_limit=run.memory,  # no swap beyond the limit: out of memory is out
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=256m"},  # noqa: S108 - the container's own tmpfs
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    except docker.errors.DockerException as exc:
        raise DockerError(f"Could not start the training container: {exc}") from None


def train_in_container(
    example: str,
    out: Path,
    *,
    base_image: str,
    wheelhouse: Path | None,
    version: str,
    console: Console,
) -> None:
    """Train the built-in ``example`` inside a container and write its bundle to ``out``."""
    client = engine.connect()
    try:
        image = build_training_image(
            client, base_image=base_image, wheelhouse=wheelhouse, console=console
        )
        status = run_training(client, image, example, out, Run(version=version))
    finally:
        client.close()
    if status != 0:
        raise TrainingError(f"Training {example} in the container failed (exit {status}).")

"""``dockyard verify``: do the bundles inside an image match the sha256 in its labels?

The check runs in a container of the image itself, with no network, a read-only root and
no capabilities: the image's Python hashes its own /models (see ``_bundle_check.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import DockerError, PackagingError
from dockyard.packaging import dockerfile, engine
from dockyard.packaging.registry import Identity, identity

_SCRIPT = Path(__file__).with_name("_bundle_check.py")
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class ModelCheck:
    name: str
    version: str
    sha256: str
    files: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class VerificationFailed(PackagingError):
    """An image's bundles do not match its labels: modified after it was built."""

    code = "verification_failed"


def verify_image(client: Any, image: str, *, timeout: float = TIMEOUT) -> list[ModelCheck]:
    """Check every bundle in ``image`` against its labels; raise :class:`VerificationFailed`."""
    who = identity(client, image)
    expected = {
        name: {"sha256": digest, "version": who.versions[name]}
        for name, digest in who.models.items()
    }
    docker = engine._sdk()
    try:
        container = client.containers.create(
            image,
            # The image's interpreter by absolute path, whatever PATH or ENTRYPOINT it sets.
            entrypoint=[f"{dockerfile.VENV}/bin/python", "-I", "-c", _SCRIPT.read_text("utf-8")],
            command=[json.dumps(expected)],
            network_mode="none",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    except docker.errors.DockerException as exc:
        raise DockerError(f"Could not start a container of {image} to verify it: {exc}") from None
    try:
        container.start()
        try:
            status = container.wait(timeout=timeout)
        except Exception as exc:  # requests' ReadTimeout, through the SDK, untyped here
            raise DockerError(f"Verifying {image} took more than {timeout:.0f} s: {exc}") from None
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    checks = [_parse(line, who) for line in stdout.splitlines() if line.startswith("{")]
    if {c.name for c in checks} != set(expected):
        raise DockerError(
            f"Verifying {image} gave no result (exit {status.get('StatusCode')}): "
            f"{stderr.strip()[-500:] or stdout.strip()[-500:]}"
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        shown = "; ".join(f"{c.name}: {', '.join(c.problems[:3])}" for c in failed)
        raise VerificationFailed(
            f"{image} does not match its labels — {shown}.",
            hint="It was modified after it was built; pull or build it again from a source you trust.",
        )
    return checks


def _parse(line: str, who: Identity) -> ModelCheck:
    data = json.loads(line)
    name = str(data["model"])
    return ModelCheck(
        name=name,
        version=who.versions.get(name, ""),
        sha256=who.models.get(name, ""),
        files=int(data.get("files", 0)),
        problems=tuple(str(p) for p in data.get("problems", [])),
    )

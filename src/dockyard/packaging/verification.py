"""``dockyard verify``: do the bundles inside an image match the sha256 in its labels, and
does the image answer their probe rows as they were saved to?

The checks run in containers of the image itself, with no network, a read-only root and
no capabilities: the image's Python hashes its own /models (see ``bundlecheck.py``, sent
from the host); then, with the bundles proven, the image's own runtime recomputes their
golden answers (see :mod:`dockyard.predictor.golden`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import DockerError, PackagingError
from dockyard.packaging import dockerfile, engine
from dockyard.packaging.registry import Identity, identity

_SCRIPT = Path(__file__).with_name("bundlecheck.py")
TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class ModelCheck:
    name: str
    version: str
    sha256: str
    files: int
    problems: tuple[str, ...]
    golden: str = ""
    """What the golden-answer check inside the image compared."""

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
    # The image's interpreter by absolute path, whatever PATH or ENTRYPOINT it sets.
    stdout, stderr, code = _run(
        client,
        image,
        [f"{dockerfile.VENV}/bin/python", "-I", "-c", _SCRIPT.read_text("utf-8")],
        [json.dumps(expected)],
        timeout=timeout,
    )
    checks = [_parse(line, who) for line in stdout.splitlines() if line.startswith("{")]
    if {c.name for c in checks} != set(expected):
        raise DockerError(
            f"Verifying {image} gave no result (exit {code}): "
            f"{stderr.strip()[-500:] or stdout.strip()[-500:]}"
        )
    failed = [c for c in checks if not c.ok]
    if failed:
        shown = "; ".join(f"{c.name}: {', '.join(c.problems[:3])}" for c in failed)
        raise VerificationFailed(
            f"{image} does not match its labels — {shown}.",
            hint="It was modified after it was built; pull or build it again from a source you trust.",
        )
    answered = _golden(client, image, sorted(expected), timeout=timeout)
    return [dataclasses.replace(c, golden=answered.get(c.name, "")) for c in checks]


def _golden(client: Any, image: str, names: list[str], *, timeout: float) -> dict[str, str]:
    """The bundles' golden answers, recomputed by the image's own runtime (after the hashes
    proved the bundles are the labelled ones): what was checked, by model."""
    stdout, stderr, code = _run(
        client,
        image,
        [f"{dockerfile.VENV}/bin/python", "-I", "-m", dockerfile.GOLDEN_MODULE],
        [f"{dockerfile.MODELS_DIR}/{name}" for name in names],
        timeout=timeout,
    )
    results = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    wrong = [r for r in results if not r.get("ok")]
    if wrong:
        raise VerificationFailed(
            f"{image} does not answer as its bundles were saved to: {wrong[0]['problem']}",
            hint="Its libraries or their platform differ from the bundle's; rebuild it with "
            "'dockyard build', which checks this before it finishes.",
        )
    if code != 0 or len(results) != len(names):
        raise DockerError(
            f"Checking the golden answers in {image} gave no result (exit {code}): "
            f"{stderr.strip()[-500:] or stdout.strip()[-500:]}"
        )
    return {str(r["model"]): str(r["checked"]) for r in results}


def _run(
    client: Any, image: str, entrypoint: list[str], command: list[str], *, timeout: float
) -> tuple[str, str, int]:
    """Run one throwaway, locked-down container of ``image``: (stdout, stderr, exit code)."""
    docker = engine.sdk()
    try:
        container = client.containers.create(
            image,
            entrypoint=entrypoint,
            command=command,
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": ""},  # noqa: S108 - the container's own, empty /tmp
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
    return stdout, stderr, int(status.get("StatusCode", -1))


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

"""The training environment's lock, on both sides of a bundle.

Training: the user's requirements (``--requirements FILE`` or the project's ``pyproject.toml``)
are locked with hashes together with Dockyard's own, into one lock the training image is
built from; that lock travels inside the bundle (``training.lock``, see
:mod:`dockyard.training.contract`).

Serving: when a bundle carries a training lock, every package the serving image installs is
pinned to the version in it, and the resolved wheels must have the very same sha256; the
serving image is then the training environment minus what only training needs, by
construction, and a build that cannot honour that fails instead of drifting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from dockyard.bundle.metadata import BundleMetadata
from dockyard.errors import PackagingError
from dockyard.packaging.lock import Lock


def read_requirements(path: Path) -> list[str]:
    """Requirement lines of a requirements file or of a ``pyproject.toml``'s dependencies."""
    if not path.is_file():
        raise PackagingError(f"{path} does not exist.", hint="Pass --requirements FILE.")
    text = path.read_text(encoding="utf-8")
    if path.name == "pyproject.toml":
        try:
            lines = list(tomllib.loads(text).get("project", {}).get("dependencies", []))
        except tomllib.TOMLDecodeError as exc:
            raise PackagingError(f"{path} is not valid TOML ({exc}).") from None
    else:
        lines = [line.split(" #", 1)[0].strip() for line in text.splitlines()]
        lines = [line for line in lines if line and not line.startswith("#")]
    out: list[str] = []
    for line in lines:
        try:
            out.append(str(Requirement(line)))
        except InvalidRequirement:
            raise PackagingError(
                f"{path}: {line[:80]!r} is not a requirement Dockyard can lock.",
                hint="List packages as 'name' or 'name==1.2.3' (no -r, -e, URLs or local paths).",
            ) from None
    return out


def find_requirements(explicit: Path | None, script: Path) -> list[str]:
    """The user's requirements: ``explicit``, else the ``pyproject.toml`` beside the script."""
    if explicit is not None:
        return read_requirements(explicit)
    project = script.resolve().parent / "pyproject.toml"
    return read_requirements(project) if project.is_file() else []


def training_lock(bundle: Path, meta: BundleMetadata) -> Lock | None:
    """The lock ``meta``'s bundle was trained with, or None when it was not trained in a
    container. (``read_metadata`` has verified the file's sha256 with the others.)"""
    if meta.training is None:
        return None
    path = bundle / meta.training.lock
    return Lock.parse(path.read_text(encoding="utf-8"), source=str(path))


def _pins(bundles: Sequence[Path], metas: Sequence[BundleMetadata]) -> dict[str, tuple[str, str]]:
    pins: dict[str, tuple[str, str]] = {}
    for bundle, meta in zip(bundles, metas, strict=True):
        lock = training_lock(Path(bundle), meta)
        for pin in lock.pins if lock else ():
            name = canonicalize_name(pin.name)
            if name in pins and pins[name][0] != pin.version:
                raise PackagingError(
                    f"Bundles were trained in different environments ({name} {pins[name][0]} "
                    f"and {pin.version}); one image has one environment.",
                    hint="Retrain them with the same requirements, or build one image per bundle.",
                )
            pins[name] = (pin.version, pin.sha256)
    return pins


def pin_like_training(
    roots: Sequence[str], bundles: Sequence[Path], metas: Sequence[BundleMetadata]
) -> list[str]:
    """``roots`` with every package the bundles' training lock lists pinned to its version."""
    pins = _pins(bundles, metas)
    out: list[str] = []
    for root in roots:
        name = canonicalize_name(Requirement(root).name)
        out.append(f"{name}=={pins[name][0]}" if name in pins else root)
    return out


def check_like_training(
    lock: Lock, bundles: Sequence[Path], metas: Sequence[BundleMetadata]
) -> None:
    """Refuse a serving lock that installs anything the training lock has at another version
    or from another file."""
    pins = _pins(bundles, metas)
    drift = [
        f"{pin.name} {pin.version} (trained with {pins[name][0]})"
        for pin in lock.pins
        if (name := canonicalize_name(pin.name)) in pins and (pin.version, pin.sha256) != pins[name]
    ]
    if drift:
        raise PackagingError(
            "The serving image would differ from the training environment: "
            + ", ".join(drift[:5])
            + ".",
            hint="Build on the platform the bundle was trained for (see 'dockyard inspect').",
        )

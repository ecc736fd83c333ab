"""What a model needs installed, and whether this interpreter has it."""

from __future__ import annotations

import importlib.metadata as md
import platform
import re
from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

# A version mismatch in these changes what a model computes or whether it loads at all;
# they are refused by default. Others are reported as warnings.
# Gradient-boosting libraries hold the model's trees in their own format: a different
# version may read them differently, so they are held to the exact version too.
STRICT_PACKAGES = ("scikit-learn", "numpy", "xgboost", "xgboost-cpu", "lightgbm")

# Distributions that install the same module from the same source: xgboost-cpu is
# xgboost built without CUDA, so a bundle trained with one is served by the other.
EQUIVALENT = {"xgboost": "xgboost-cpu", "xgboost-cpu": "xgboost"}

# What an image installs for a recorded distribution that would bring CUDA libraries:
# the same release built for CPUs only.
CPU_BUILDS = {"xgboost": "xgboost-cpu"}

# CUDA runtime libraries (xgboost's nvidia-nccl-cu12, ~470 MB) are loaded only to train
# or predict on a GPU; a served model never needs them, so bundles do not record them.
_GPU_ONLY = re.compile(r"^nvidia-")


def gpu_only(name: str) -> bool:
    return _GPU_ONLY.match(_canonical(name)) is not None


def _canonical(name: str) -> str:
    # packaging.utils.canonicalize_name's rule; importing packaging.utils (it imports
    # packaging.tags) would cost serving start-up ~25 ms for one regular expression.
    return re.sub(r"[-_.]+", "-", name).lower()


def distribution_for_module(module: str) -> str | None:
    top = module.split(".", 1)[0]
    dists = md.packages_distributions().get(top)
    return dists[0] if dists else None


def requirement_closure(roots: Iterable[str]) -> dict[str, str]:
    """Exact installed versions of ``roots`` and of everything they require (no extras)."""
    # Imported here: compiling packaging's grammar costs serving start-up ~20 ms for nothing.
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, str] = {}
    todo = [_canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in found or gpu_only(name):
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        found[name] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(_canonical(req.name))
    return dict(sorted(found.items()))


def python_version() -> str:
    return platform.python_version()


def same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions (``1.0`` is ``1.0.0``); what is no version compares as text."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def same_python(a: str, b: str) -> bool:
    """Whether two Python versions are the same feature release (``3.11.4`` and ``3.11.9``)."""
    try:
        return Version(a).release[:2] == Version(b).release[:2]
    except InvalidVersion:
        return a == b


def platform_tag() -> str:
    return f"{platform.system().lower()}-{platform.machine()}"


def installed_version(name: str) -> str | None:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        return None
    # ``dist.version`` runs the email parser over the whole metadata file, long description
    # included (~1 ms a package, paid for every recorded package when a bundle loads); the
    # version is one header line above the first blank line.
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.partition("\n\n")[0].splitlines():
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
    return dist.version


def compare(
    recorded: dict[str, str],
    *,
    strict: Iterable[str] = STRICT_PACKAGES,
    may_be_absent: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """Return (refusals, warnings): recorded-vs-running differences, worded for people.

    A difference in a ``strict`` package, or a missing package, is a refusal; other
    differences are warnings. Packages in ``may_be_absent`` may be missing (the runtime
    serving the model does not use them), but if installed they are compared as usual.
    """
    strict, absent_ok = frozenset(strict), frozenset(may_be_absent)
    refusals: list[str] = []
    warnings: list[str] = []
    for name, want in recorded.items():
        have = installed_version(name)
        if have is None and name in EQUIVALENT:
            have = installed_version(EQUIVALENT[name])
        if (have is not None and same_version(have, want)) or (have is None and name in absent_ok):
            continue
        line = f"{name} {want} recorded, {have or 'not installed'} running"
        (refusals if name in strict or have is None else warnings).append(line)
    return refusals, warnings

"""The requirements lock: every distribution an image installs, pinned, with its sha256.

The lock is resolved on the host with pip's own resolver (``pip install --dry-run --report``)
for the image's platform and Python, not the host's. pip rather than uv: pip is what installs
inside the image anyway, it is present wherever Dockyard is, and it also downloads the wheels
for offline builds, which uv cannot; so the tool side needs no extra dependency.

Versions come, in order of precedence, from the bundles' recorded environments, then from the
versions running here (the environment the model was tested with), then from the resolver.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dockyard import files
from dockyard.__about__ import __version__
from dockyard.bundle import environment
from dockyard.bundle.metadata import BundleMetadata
from dockyard.bundle.store import sha256_file
from dockyard.errors import PackagingError
from dockyard.packaging.pip import run_pip, source_tree

LOCK_FORMAT = 1
# Wheels for glibc 2.17-2.28 run on every current Debian, Ubuntu and RHEL base, including
# the official python:*-slim images; newer manylinux tags would narrow that.
_MANYLINUX = [f"manylinux_2_{minor}" for minor in range(28, 16, -1)]
# Needed only by ``dockyard train`` and ``save_bundle`` (data frames, the training report's
# plots, the ONNX export); serving never imports them and they are the largest packages by
# far, so a serving image carries one only when a bundle records it.
TRAINING_ONLY = frozenset({"pandas", "matplotlib", "skl2onnx", "onnx"})
# What a slim image leaves out: it serves verified ONNX exports with onnxruntime, and that
# path imports none of these (see dockyard.runtime).
SKLEARN_STACK = frozenset({"scikit-learn", "scipy", "skops", "pandas"})
# Nor the PostgreSQL driver of the prediction log (10 MB with its libpq): a slim image logs
# to SQLite, and refuses a PostgreSQL log with the reason at start.
POSTGRES_DRIVER = frozenset({"psycopg", "psycopg-binary"})
_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}


@dataclass(frozen=True, slots=True)
class Target:
    """The interpreter and platform an image runs: what wheels must be chosen for."""

    python: str
    """``major.minor``, e.g. ``3.11``."""
    machine: str = "x86_64"

    @classmethod
    def for_python(cls, version: str, machine: str | None = None) -> Target:
        try:
            release = Version(version).release
        except InvalidVersion:
            raise PackagingError(f"{version!r} is not a Python version.") from None
        major_minor = ".".join(str(part) for part in release[:2])
        arch = _MACHINES.get((machine or platform.machine()).lower())
        if arch is None:
            raise PackagingError(
                f"Images for the {machine or platform.machine()} architecture are not supported."
            )
        return cls(major_minor, arch)

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def platforms(self) -> list[str]:
        return [f"{tag}_{self.machine}" for tag in _MANYLINUX] + [f"manylinux2014_{self.machine}"]

    def pip_args(self) -> list[str]:
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        args += ["--abi", self.abi, "--abi", "abi3", "--abi", "none"]
        for tag in self.platforms:
            args += ["--platform", tag]
        return args

    def describe(self) -> str:
        return f"python={self.python} machine={self.machine}"


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    version: str
    sha256: str
    filename: str

    def line(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


@dataclass(frozen=True, slots=True)
class Lock:
    target: Target
    pins: tuple[Pin, ...]

    def render(self) -> str:
        lines = [
            f"# Dockyard {__version__} lock (format {LOCK_FORMAT}); do not edit: rebuild to refresh.",
            "# Install with: pip install --require-hashes --no-deps -r THIS_FILE",
            f"# target: {self.target.describe()}",
        ]
        for pin in self.pins:
            lines += [f"# file: {pin.filename}", pin.line()]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, *, source: str = "lock") -> Lock:
        target: Target | None = None
        pins: list[Pin] = []
        filename: str | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("# target:"):
                fields = dict(f.split("=", 1) for f in line.removeprefix("# target:").split())
                target = Target(fields["python"], fields["machine"])
            elif line.startswith("# file:"):
                filename = line.removeprefix("# file:").strip()
            elif line and not line.startswith("#"):
                spec, _, digest = line.partition(" --hash=sha256:")
                name, _, version = spec.partition("==")
                if not (name and version and digest and filename):
                    raise PackagingError(f"{source}: malformed line {line!r}.")
                pins.append(Pin(name, version, digest.strip(), filename))
                filename = None
        if target is None:
            raise PackagingError(
                f"{source} has no '# target:' line; it was not written by Dockyard."
            )
        return cls(target, tuple(pins))


def cache_dir() -> Path:
    """Where locks and wheels are cached between builds."""
    if explicit := os.environ.get("DOCKYARD_CACHE_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dockyard"


def _declared_requirements() -> list[str]:
    # From a source tree, its pyproject.toml is the truth (an editable install's metadata goes
    # stale when dependencies change); the wheel that goes into the image is built from it.
    tree = source_tree()
    if tree is not None:
        import tomllib

        project = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        return list(project.get("dependencies", []))
    return list(md.requires("dockyard") or [])


def _own_requirements() -> list[Requirement]:
    """Dockyard's runtime requirements (no extras)."""
    out: list[Requirement] = []
    for line in _declared_requirements():
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and "extra" in str(req.marker):
            continue
        out.append(req)
    return out


def _serves_onnx(meta: BundleMetadata) -> bool:
    return meta.runtime.kind == "onnx" and bool(meta.runtime.path)


def _merge_recorded(bundles: Sequence[BundleMetadata]) -> dict[str, str]:
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for meta in bundles:
        packages = dict(meta.environment.packages)
        # The onnxruntime that verified the bundle's ONNX export is the one to serve it with.
        if meta.runtime.kind == "onnx" and "onnxruntime" in meta.runtime.versions:
            packages["onnxruntime"] = meta.runtime.versions["onnxruntime"]
        for raw_name, version in packages.items():
            name = canonicalize_name(raw_name)
            if name in merged and merged[name] != version:
                raise PackagingError(
                    f"Bundles '{owner[name]}' and '{meta.name}' record {name} {merged[name]} and "
                    f"{version}; one image has one environment.",
                    hint="Retrain them in the same environment, or build one image per bundle.",
                )
            merged[name] = version
            owner[name] = meta.name
    return merged


def requirements_for(
    bundles: Sequence[BundleMetadata], *, training: bool = False, slim: bool = False
) -> list[str]:
    """The root requirements of an image serving ``bundles`` (or training, with no bundles).

    A serving image serves each bundle with the runtime it records, so it has onnxruntime
    when any bundle records its ONNX export; ``slim``: with onnxruntime only, without
    :data:`SKLEARN_STACK` (the caller has checked that every bundle has a verified ONNX export).
    """
    recorded = _merge_recorded(bundles)
    # No CUDA in a serving image: xgboost becomes xgboost-cpu (the same release), and
    # nvidia-* libraries that older bundles recorded are left out.
    recorded = {
        environment.CPU_BUILDS.get(n, n): v
        for n, v in recorded.items()
        if not environment.gpu_only(n)
    }
    own = _own_requirements()
    wanted: set[str] = {canonicalize_name(r.name) for r in own}
    if not training:
        wanted -= TRAINING_ONLY - recorded.keys()
    if slim:
        wanted = (wanted - TRAINING_ONLY - SKLEARN_STACK - POSTGRES_DRIVER) | {"onnxruntime"}
    elif not training and not any(_serves_onnx(m) for m in bundles):
        # Every bundle records scikit-learn: onnxruntime would add 31 MB that never runs.
        # A bundle that records its ONNX export is served with it, by the onnxruntime that
        # verified it. Training keeps it: saving a bundle verifies its ONNX export.
        wanted.discard("onnxruntime")
        recorded.pop("onnxruntime", None)
    pins: dict[str, str] = {
        canonicalize_name(n): v for n, v in environment.requirement_closure(sorted(wanted)).items()
    }
    for name in list(pins):
        if not training and name in TRAINING_ONLY and name not in wanted:
            del pins[name]
    if slim:
        # Recorded versions still win, but only for what a slim image installs at all.
        recorded = {n: v for n, v in recorded.items() if canonicalize_name(n) in pins}
    pins.update({canonicalize_name(n): v for n, v in recorded.items()})
    roots = {name: f"{name}=={version}" for name, version in pins.items()}
    for req in own:
        name = canonicalize_name(req.name)
        if name in wanted and name not in roots:
            # Not installed here (another platform's dependency): let the resolver choose.
            roots[name] = f"{name}{req.specifier}"
    if slim and "onnxruntime" not in roots:
        roots["onnxruntime"] = "onnxruntime"
    return [roots[name] for name in sorted(roots)]


def _pin_from_report(item: dict[str, Any]) -> Pin:
    info = item["download_info"]
    url = str(info["url"])
    filename = unquote(url.rsplit("/", 1)[-1].split("#", 1)[0])
    hashes = info.get("archive_info", {}).get("hashes", {})
    digest = hashes.get("sha256")
    if digest is None and url.startswith("file:"):
        digest = sha256_file(Path(unquote(urlparse(url).path)))
    if digest is None:
        raise PackagingError(f"The index published no sha256 for {filename}; it cannot be locked.")
    meta = item["metadata"]
    return Pin(canonicalize_name(meta["name"]), str(meta["version"]), str(digest), filename)


def resolve(requirements: Iterable[str], target: Target, *, use_cache: bool = True) -> Lock:
    """Resolve ``requirements`` for ``target`` to exact wheels and their sha256.

    Cached by the exact input, so a rebuild with unchanged dependencies needs no index.
    """
    roots = sorted(requirements)
    key = hashlib.sha256(
        json.dumps({"format": LOCK_FORMAT, "roots": roots, "target": target.describe()}).encode()
    ).hexdigest()[:32]
    cached = cache_dir() / "locks" / f"{key}.txt"
    if use_cache and cached.is_file():
        return Lock.parse(cached.read_text(encoding="utf-8"), source=str(cached))
    with tempfile.TemporaryDirectory(prefix="dockyard-lock-") as tmp:
        roots_file = Path(tmp) / "roots.txt"
        roots_file.write_text("\n".join(roots) + "\n", encoding="utf-8")
        report = Path(tmp) / "report.json"
        run_pip(
            [
                "install", "--dry-run", "--ignore-installed", "--quiet", "--disable-pip-version-check",
                "--target", str(Path(tmp) / "target"), "--report", str(report),
                *target.pip_args(), "-r", str(roots_file),
            ],
            what=f"resolve the image's requirements for {target.describe()}",
        )  # fmt: skip
        items = json.loads(report.read_text(encoding="utf-8"))["install"]
    lock = Lock(target, tuple(sorted((_pin_from_report(i) for i in items), key=lambda p: p.name)))
    cached.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(cached, lock.render())
    return lock

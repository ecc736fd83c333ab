"""Write a build context: Dockerfile, .dockerignore, locks, wheels and verified bundles.

The context is complete and self-describing: ``docker build`` of it anywhere gives the same
image, which is what ``dockyard build --context-only DIR`` is for.
"""

from __future__ import annotations

import platform
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.version import Version

from dockyard.__about__ import __version__
from dockyard.bundle import BundleMetadata, bundle_digest, read_metadata
from dockyard.bundle.metadata import METADATA_FILE
from dockyard.errors import PackagingError
from dockyard.packaging import dockerfile, wheelhouse
from dockyard.packaging.lock import Lock, Target, requirements_for, resolve
from dockyard.packaging.sources import SourceBuild, default_build_base, numpy_without_blas
from dockyard.packaging.system_libraries import model_pins, wheel_links
from dockyard.packaging.trainlock import check_like_training, pin_like_training

_MARKER = "# Dockyard "
_FIRST_MESON_NUMPY = Version("1.26")


@dataclass(frozen=True, slots=True)
class Context:
    path: Path
    spec: dockerfile.ImageSpec
    lock: Lock
    dockyard_lock: Lock
    bundles: tuple[BundleMetadata, ...]
    sources: SourceBuild | None = None
    """numpy compiled without BLAS in the build (a slim image), else None."""

    @property
    def default_tag(self) -> str:
        if self.spec.kind == "train":
            return f"dockyard-train:{self.spec.dockyard_version}"
        suffix = "-slim" if self.spec.slim else ""
        if len(self.bundles) == 1:
            return f"{self.bundles[0].name}:{self.bundles[0].version}{suffix}"
        return "dockyard-models:" + "-".join(b.name for b in self.bundles) + suffix


def default_base_image(python: str) -> str:
    """The official slim image of the Python the bundle was trained with."""
    return f"python:{'.'.join(python.split('.')[:2])}-slim"


def _prepare(dest: Path) -> None:
    if dest.exists():
        if not dest.is_dir():
            raise PackagingError(f"{dest} exists and is not a directory.")
        if any(dest.iterdir()):
            previous = dest / "Dockerfile"
            mine = previous.is_file() and previous.read_text(encoding="utf-8").startswith(_MARKER)
            if not mine:
                raise PackagingError(
                    f"{dest} is not empty; Dockyard writes a build context only into an empty "
                    "directory or over one it wrote before.",
                )
            shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)


def _check_slim(metas: Sequence[BundleMetadata]) -> None:
    """A slim image has no scikit-learn: every bundle must be served by its verified ONNX export."""
    for meta in metas:
        if meta.runtime.kind != "onnx" or not meta.runtime.path:
            why = meta.runtime.reason or "it was saved without an ONNX export"
            raise PackagingError(
                f"Bundle '{meta.name}' cannot go into a slim image: a slim image has no "
                f"scikit-learn and serves only verified ONNX exports, and this bundle has none "
                f"({why}).",
                hint="Build it without --slim, or save it again with a Dockyard that exports "
                "ONNX, from a model skl2onnx converts.",
            )


def _copy_bundle(source: Path, meta: BundleMetadata, dest: Path) -> None:
    # Only the files the metadata vouches for (already verified by read_metadata), world-readable
    # so the image's non-root user can read them; editor backups and caches stay behind.
    for rel in [METADATA_FILE, *meta.files]:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
        target.chmod(0o644)
    for directory in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        directory.chmod(0o755)


def _numpy_from_source(
    resolved: Lock, compiler: str | None, house: Path
) -> tuple[Lock, SourceBuild | None, list[Path]]:
    """With a ``compiler`` image, numpy comes out of the lock and is compiled from its
    source release instead (see :mod:`dockyard.packaging.sources`)."""
    numpy = next((p for p in resolved.pins if p.name == "numpy"), None)
    if compiler is None or numpy is None:
        return resolved, None, []
    if Version(numpy.version) < _FIRST_MESON_NUMPY:
        raise PackagingError(
            f"numpy {numpy.version} predates numpy's meson build (1.26), which compiling "
            "it without BLAS relies on.",
            hint="Pass --numpy-wheel, or retrain with numpy 1.26 or later.",
        )
    sources, source_files = numpy_without_blas(
        numpy.version, resolved.target, house, build_base=compiler
    )
    return (
        Lock(resolved.target, tuple(p for p in resolved.pins if p is not numpy)),
        sources,
        source_files,
    )


def write_context(
    dest: Path,
    bundles: Sequence[Path],
    *,
    base_image: str | None = None,
    offline: bool = False,
    wheels: Path | None = None,
    machine: str | None = None,
    kind: Literal["serve", "train"] = "serve",
    slim: bool = False,
    numpy_wheel: bool = False,
    build_base: str | None = None,
    requirements: Sequence[str] = (),
) -> Context:
    """Write the build context of an image serving ``bundles`` (or of the training image).

    ``offline`` (implied by ``wheels``) puts every locked wheel, verified, into the context,
    and the image build then needs no network at all. ``slim`` leaves scikit-learn, scipy,
    pandas and skops out; every bundle must then carry a verified ONNX export. A slim image
    compiles numpy without BLAS in ``build_base`` (default: ``python:X.Y`` for a
    ``python:X.Y-slim`` base; see :mod:`dockyard.packaging.sources`) unless ``numpy_wheel``.
    """
    metas = tuple(read_metadata(b) for b in bundles)
    if kind == "serve" and not metas:
        raise PackagingError("Name at least one bundle to serve.")
    names = [m.name for m in metas]
    if len(set(names)) != len(names):
        raise PackagingError(
            f"Two bundles share a name ({', '.join(names)}); each is served as /v1/models/NAME."
        )
    if slim:
        if kind != "serve":
            raise PackagingError("Only a serving image can be slim.")
        _check_slim(metas)
    elif numpy_wheel or build_base:
        raise PackagingError("--numpy-wheel and --build-base apply only to a --slim image.")
    if numpy_wheel and build_base:
        raise PackagingError(
            "--build-base names where numpy is compiled, and --numpy-wheel compiles nothing.",
            hint="Pass one of them.",
        )
    python = metas[0].environment.python if metas else platform.python_version()
    base = base_image or default_base_image(python)
    target = Target.for_python(python, machine)
    offline = offline or wheels is not None
    house = wheels or wheelhouse.default_wheelhouse()
    compiler = (build_base or default_build_base(base)) if slim and not numpy_wheel else None
    if slim and not numpy_wheel and compiler is None:
        raise PackagingError(
            f"A slim image compiles numpy without BLAS, in an image with a C compiler and "
            f"the Python of the base; for the base {base} Dockyard cannot tell which.",
            hint="Pass --build-base IMAGE (same OS and Python as the base, with gcc and g++), "
            "or --numpy-wheel to install numpy's wheel with OpenBLAS (25 MB more).",
        )
    # A training image adds the user's ``requirements``; a bundle trained in one is served
    # with the very versions and wheels it was trained with (see packaging/trainlock.py).
    roots = pin_like_training(
        [*requirements_for(metas, training=kind == "train", slim=slim), *requirements],
        bundles,
        metas,
    )
    resolved = resolve(roots, target)
    check_like_training(resolved, bundles, metas)
    resolved, sources, source_files = _numpy_from_source(resolved, compiler, house)
    wheel_files = wheelhouse.fetch(resolved, house) if offline else []
    # The model libraries' wheels are read for the system libraries they link.
    model_locked = tuple(model_pins(resolved, metas))
    model_wheels = wheelhouse.fetch(Lock(target, model_locked), house) if model_locked else []

    _prepare(dest)
    wheelhouse.place(wheel_files, dest / "wheels")
    if source_files:
        wheelhouse.place(source_files, dest / "sources")
    own = wheelhouse.dockyard_wheel(target, dest / "dist")
    for source, meta in zip(bundles, metas, strict=True):
        _copy_bundle(Path(source), meta, dest / "models" / meta.name)
    spec = dockerfile.ImageSpec(
        base_image=base,
        python=target.python,
        dockyard_version=__version__,
        offline=offline,
        models=tuple(
            dockerfile.ModelSpec(
                name=m.name,
                version=m.version,
                digest=bundle_digest(b),
                description=m.description,
                created=m.created_at.isoformat(),
                runtime="onnx" if m.runtime.kind == "onnx" and m.runtime.path else "sklearn",
            )
            for b, m in zip(bundles, metas, strict=True)
        ),
        kind=kind,
        slim=slim,
        links=tuple(link for wheel in model_wheels for link in wheel_links(wheel)),
        numpy_source=(
            dockerfile.SourceArchive(
                sources.build_base, sources.archive.filename, sources.archive.sha256
            )
            if sources
            else None
        ),
    )
    (dest / "requirements.lock").write_text(resolved.render(), encoding="utf-8")
    if sources is not None:
        (dest / dockerfile.SOURCE_LOCK).write_text(sources.source.render(), encoding="utf-8")
        (dest / dockerfile.TOOLS_LOCK).write_text(sources.tools.render(), encoding="utf-8")
    (dest / "dockyard.lock").write_text(own.render(), encoding="utf-8")
    (dest / ".dockerignore").write_text(dockerfile.DOCKERIGNORE, encoding="utf-8")
    (dest / "Dockerfile").write_text(dockerfile.render(spec), encoding="utf-8")
    return Context(dest, spec, resolved, own, metas, sources)

"""Build an image end to end: write the context into a temporary directory, build, measure."""

from __future__ import annotations

import dataclasses
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from dockyard.bundle.metadata import BundleMetadata
from dockyard.bundle.store import read_metadata
from dockyard.packaging import engine, sbom
from dockyard.packaging.context import default_base_image, write_context
from dockyard.packaging.sources import default_build_base


def build_image(
    bundles: Sequence[Path],
    *,
    console: Console,
    tag: str | None = None,
    base_image: str | None = None,
    offline: bool = False,
    wheels: Path | None = None,
    kind: Literal["serve", "train"] = "serve",
    slim: bool = False,
    numpy_wheel: bool = False,
    build_base: str | None = None,
    sbom_path: Path | None = None,
    sbom_dir: Path | None = None,
    client: Any | None = None,
    requirements: Sequence[str] = (),
) -> engine.Built:
    """Build the image serving ``bundles`` (or the training image) on the engine.

    The image's CycloneDX SBOM goes to ``sbom_path``, or to ``IMAGE.cdx.json`` in ``sbom_dir``;
    with neither, none is written.
    """
    client = client if client is not None else engine.connect()
    if offline or wheels is not None:
        engine.require_local(
            client, base_images(bundles, base_image, slim, numpy_wheel, build_base)
        )
    with tempfile.TemporaryDirectory(prefix="dockyard-context-") as tmp:
        with console.status("Locking dependencies and writing the build context…"):
            context = write_context(
                Path(tmp) / "context",
                bundles,
                base_image=base_image,
                offline=offline,
                wheels=wheels,
                machine=engine.machine(client),
                kind=kind,
                slim=slim,
                numpy_wheel=numpy_wheel,
                build_base=build_base,
                requirements=requirements,
            )
        mode = "offline, no network" if context.spec.offline else "wheels from the index"
        variant = ", slim: ONNX Runtime, no scikit-learn" if slim else ""
        if context.sources is not None:
            variant += f", numpy compiled without BLAS in {context.sources.build_base}"
        console.print(
            f"Context: {len(context.lock.pins)} locked packages + Dockyard {context.spec.dockyard_version}"
            f" ({mode}{variant}), base {context.spec.base_image}"
        )
        if context.sources is not None:
            console.print(
                "numpy is compiled in the first build (minutes: about 5 on two cores); later "
                "builds reuse that layer. numpy's wheel would skip it (25 MB more)."
            )
        built = engine.build(
            client,
            context.path,
            tag or context.default_tag,
            network=not context.spec.offline,
            base_image=context.spec.base_image,
            build_base=context.spec.build_base,
            console=console,
        )
        if kind == "serve" and not slim and all(b.runtime.kind == "onnx" for b in context.bundles):
            built = dataclasses.replace(built, could_be_slim=True)
        if sbom_path is None and sbom_dir is not None:
            sbom_path = sbom.default_path(built.tag, sbom_dir)
        if sbom_path is not None:
            sbom.write_for(context, sbom_path, image=built.tag, image_id=built.image_id)
            built = dataclasses.replace(built, sbom=sbom_path)
        return built


def image_per_bundle(
    bundles: Sequence[Path],
    *,
    build: bool,
    console: Console,
    base_image: str | None = None,
    offline: bool = False,
    wheels: Path | None = None,
) -> list[tuple[BundleMetadata, str, engine.Built | None]]:
    """Each bundle's metadata and its image ``NAME:VERSION``, built first when ``build``
    (over one engine connection), for the commands that run one service per model."""
    client = engine.connect() if build else None
    found = []
    for bundle in bundles:
        # A build verifies every file as it writes the context; no need to hash them twice.
        meta = read_metadata(bundle, verify=not build)
        tag = f"{meta.name}:{meta.version}"
        built = None
        if build:
            built = build_image(
                [bundle],
                console=console,
                tag=tag,
                base_image=base_image,
                offline=offline or wheels is not None,
                wheels=wheels,
                client=client,
            )
        found.append((meta, tag, built))
    return found


def base_images(
    bundles: Sequence[Path],
    base_image: str | None,
    slim: bool,
    numpy_wheel: bool,
    build_base: str | None,
) -> list[str]:
    """The images a build starts FROM, chosen as ``write_context`` chooses them: the base
    (by default the slim image of the bundles' Python) and, for a slim image that compiles
    numpy, the build image."""
    python = (
        read_metadata(bundles[0], verify=False).environment.python
        if bundles
        else platform.python_version()
    )
    base = base_image or default_base_image(python)
    compiler = (build_base or default_build_base(base)) if slim and not numpy_wheel else None
    return [base] if compiler is None else [base, compiler]

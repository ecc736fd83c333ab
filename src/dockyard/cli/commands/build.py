"""``dockyard build``: bundles → a hardened, hash-locked serving image (or just its context)."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out


def build(
    bundles: list[Path] = typer.Argument(
        ..., help="Bundle directories to serve from the image.", show_default=False
    ),
    tag: str | None = typer.Option(None, "--tag", "-t", help="Image name [default: NAME:VERSION]."),
    base_image: str | None = typer.Option(
        None,
        help="Base image [default: python:X.Y-slim, X.Y the Python the bundle was trained with].",
    ),
    wheelhouse: Path | None = typer.Option(
        None, help="Keep the locked wheels in DIR (missing ones are downloaded); implies --offline."
    ),
    offline: bool = typer.Option(
        False,
        "--offline",
        help="Download and verify wheels on this machine: the build needs no network.",
    ),
    slim: bool = typer.Option(
        False,
        "--slim",
        help="Serve the bundles' verified ONNX exports with ONNX Runtime: no scikit-learn, "
        "scipy or pandas in the image (refused for a bundle without one).",
    ),
    numpy_wheel: bool = typer.Option(
        False,
        "--numpy-wheel",
        help="With --slim: install numpy's wheel, with OpenBLAS (25 MB more), instead of "
        "compiling numpy without BLAS in the build.",
    ),
    build_base: str | None = typer.Option(
        None,
        help="With --slim: the image that compiles numpy, with gcc, g++ and the base image's "
        "Python [default: python:X.Y for a python:X.Y-slim base].",
    ),
    sbom: Path | None = typer.Option(
        None,
        help="Write the image's CycloneDX SBOM here [default: IMAGE.cdx.json in the current "
        "directory, or sbom.cdx.json in the --context-only directory].",
    ),
    context_only: Path | None = typer.Option(
        None,
        "--context-only",
        help="Write the build context to DIR (for 'docker build' elsewhere) and stop.",
    ),
) -> None:
    """Build a container image that serves the bundles, and its SBOM."""
    from dockyard.packaging import sbom as sboms

    if context_only is not None:
        from dockyard.packaging.context import write_context

        with err.status("Locking dependencies and writing the build context…"):
            context = write_context(
                context_only,
                bundles,
                base_image=base_image,
                offline=offline,
                wheels=wheelhouse,
                slim=slim,
                numpy_wheel=numpy_wheel,
                build_base=build_base,
            )
        image = tag or context.default_tag
        # Inside the context, where .dockerignore's allow-list keeps it out of the image.
        written = sboms.write_for(context, sbom or context.path / "sbom.cdx.json", image=image)
        out.print(f"Build context written to {context.path}")
        out.print(f"  docker build -t {image} {context.path}")
        out.print(f"SBOM (CycloneDX {sboms.SPEC_VERSION}): {written}")
        return
    from dockyard.packaging.images import build_image

    built = build_image(
        bundles,
        console=err,
        tag=tag,
        base_image=base_image,
        offline=offline,
        wheels=wheelhouse,
        slim=slim,
        numpy_wheel=numpy_wheel,
        build_base=build_base,
        sbom_path=sbom,
        sbom_dir=Path.cwd(),
    )
    if built.could_be_slim:
        err.print(
            "Every bundle here has a verified ONNX export: --slim builds an image that "
            "serves it with ONNX Runtime, without scikit-learn (smaller, faster to start)."
        )
    out.print(f"Built {built.describe()}")
    out.print(f"SBOM (CycloneDX {sboms.SPEC_VERSION}): {built.sbom}")
    out.print(f"  run it: dockyard run {built.tag}")


def register(app: typer.Typer) -> None:
    app.command()(build)

"""``dockyard save`` / ``dockyard load``: move an image as a tar with a sha256, verified on load."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out


def save(
    image: str = typer.Argument(..., help="Image to save.", show_default=False),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Tar file to write; IMAGE.tar.sha256 goes beside it."
    ),
) -> None:
    """Save an image to a tar file plus its sha256 file."""
    from dockyard.packaging import engine

    client = engine.connect()
    with err.status(f"Saving {image}…"):
        digest = engine.save(client, image, output)
    out.print(f"Saved {image} → {output} ({engine.mb(output.stat().st_size)}), sha256 {digest}")
    out.print(
        f"  checksum in {engine.sha256_path(output)}; load elsewhere with: dockyard load {output.name}"
    )


def load(
    tar: Path = typer.Argument(..., help="Tar written by 'dockyard save'.", show_default=False),
) -> None:
    """Verify a saved image against its sha256 file, then load it."""
    from dockyard.packaging import engine

    client = engine.connect()
    with err.status(f"Verifying and loading {tar}…"):
        tags = engine.load(client, tar)
    out.print(f"Loaded {', '.join(tags)} (sha256 verified)")


def register(app: typer.Typer) -> None:
    app.command()(save)
    app.command()(load)

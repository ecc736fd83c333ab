"""``dockyard train``: train a built-in example into a bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out


def train(
    example: str = typer.Argument(..., help="Example to train: iris or wine."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Bundle directory to write."),
    version: str = typer.Option("1.0.0", help="Model version recorded in the bundle."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
    in_container: bool = typer.Option(
        False, "--in-container", help="Train inside a container built from the locked environment."
    ),
    base_image: str = typer.Option(
        "python:3.11-slim", help="Base image for --in-container training."
    ),
    wheelhouse: Path | None = typer.Option(
        None, help="With --in-container: install from this wheelhouse (offline build)."
    ),
) -> None:
    """Train a built-in example model and save it as a bundle."""
    if in_container:
        from dockyard.packaging.training import train_in_container

        train_in_container(
            example, out_dir, base_image=base_image, wheelhouse=wheelhouse, version=version
        )
        from dockyard.bundle import read_metadata

        metadata = read_metadata(out_dir)
    else:
        from dockyard.training import train_example

        with err.status(f"Training {example}…"):
            metadata = train_example(example, out_dir, version=version, overwrite=overwrite)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in metadata.evaluation.metrics.items())
    out.print(
        f"Trained [bold]{metadata.name}[/] {metadata.version} → {out_dir} "
        f"({metadata.evaluation.method} on {metadata.evaluation.rows} rows: {metrics})"
    )


def register(app: typer.Typer) -> None:
    app.command()(train)

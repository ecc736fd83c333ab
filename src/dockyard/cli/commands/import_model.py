"""``dockyard import``: turn a user's pickled model into a verified skops bundle."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out
from dockyard.cli.refusals import in_flags


def import_model(
    model: Path = typer.Argument(
        ...,
        help="A pickle or joblib file holding a fitted estimator, or an MLflow model "
        "directory (sklearn flavor).",
    ),
    sha256: str | None = typer.Option(
        None,
        help="The pickle's sha256; it is unpickled only if this matches "
        "(not needed for an MLflow model saved as skops).",
    ),
    data: Path | None = typer.Option(
        None,
        help="Training data CSV (features plus the target column). Needed for a pickle; "
        "without it an MLflow model's schema comes from its signature and input example, "
        "and its metrics are unknown.",
    ),
    target: str | None = typer.Option(
        None,
        help="Name of the target column in --data (or, without --data, what the model "
        "predicts); omit it for a clusterer or outlier detector.",
    ),
    name: str = typer.Option(..., help="Model name for the bundle."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Bundle directory to write."),
    version: str = typer.Option("1.0.0", help="Model version recorded in the bundle."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing bundle."),
    trust: list[str] = typer.Option(
        [], "--trust", help="Extra type the skops loader may construct (repeatable)."
    ),
) -> None:
    """Import a pickled model (verified by its sha256) or an MLflow model directory, and
    save it as a skops bundle."""
    from dockyard.training.imports import import_model as run

    with err.status("Importing…"), in_flags(allow_version_mismatch=False):
        metadata = run(
            model,
            sha256=sha256,
            data=data,
            target=target,
            name=name,
            out=out_dir,
            version=version,
            overwrite=overwrite,
            trusted_types=trust,
        )
    evaluation = metadata.evaluation
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in evaluation.metrics.items())
    measured = (
        f"{evaluation.method}: {metrics}"
        if evaluation.metrics
        else "metrics unknown: imported without --data"
    )
    out.print(f"Imported [bold]{metadata.name}[/] {metadata.version} → {out_dir} ({measured})")


def register(app: typer.Typer) -> None:
    app.command(name="import")(import_model)

"""``dockyard inspect``: the model card of a bundle, checked against this environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from dockyard.cli.console import out

if TYPE_CHECKING:
    from dockyard.bundle.metadata import BundleMetadata


def inspect(
    bundle: Path = typer.Argument(..., help="Bundle directory."),
    as_json: bool = typer.Option(False, "--json", help="Print bundle.json (verified) instead."),
) -> None:
    """Show a bundle's model card: metrics, features, versions, integrity."""
    from dockyard.bundle import bundle_digest, read_metadata
    from dockyard.bundle.environment import installed_version

    metadata = read_metadata(bundle)
    if as_json:
        out.print_json(json.dumps(metadata.model_dump(mode="json")))
        return
    out.print(
        f"[bold]{metadata.name}[/] {metadata.version}  ({metadata.task}, {metadata.model.estimator})"
    )
    if metadata.description:
        out.print(metadata.description)
    out.print(
        f"created {metadata.created_at:%Y-%m-%d %H:%M} UTC with Dockyard {metadata.dockyard_version}, "
        f"Python {metadata.environment.python} on {metadata.environment.platform}"
    )
    _print_training(metadata)
    _print_evaluation(metadata)
    if metadata.target.classes:
        out.print(
            f"target [bold]{metadata.target.name}[/]: {', '.join(map(str, metadata.target.classes))}"
        )
    counts = metadata.evaluation.counts
    if counts:
        total = sum(counts.values()) or 1
        what = "cluster sizes" if metadata.task == "clustering" else "flagged"
        out.print(f"{what}: " + ", ".join(f"{k} {n} ({n / total:.1%})" for k, n in counts.items()))

    features = Table(title="Features", title_justify="left")
    for column in ("name", "type", "range / categories", "nullable"):
        features.add_column(column)
    for f in metadata.features:
        if f.categories is not None:
            shown = ", ".join(f.categories[:6]) + (", …" if len(f.categories) > 6 else "")
        elif f.minimum is not None:
            shown = f"{f.minimum:g} … {f.maximum:g}"
        else:
            shown = "free text" if f.type == "text" else ""
        features.add_row(f.name, f.type, shown, "yes" if f.nullable else "")
    out.print(features)

    versions = Table(title="Environment (recorded vs running)", title_justify="left")
    for column in ("package", "recorded", "running"):
        versions.add_column(column)
    for name, recorded in metadata.environment.packages.items():
        running = installed_version(name) or "not installed"
        style = "" if running == recorded else "red"
        versions.add_row(name, recorded, f"[{style}]{running}[/]" if style else running)
    out.print(versions)
    out.print(
        f"integrity: all {len(metadata.files)} file checksums match; bundle sha256 {bundle_digest(bundle)}"
    )
    report = Path(bundle) / "report" / "index.html"
    if report.is_file():
        out.print(f"training report: {report}")


def _print_evaluation(metadata: BundleMetadata) -> None:
    evaluation = metadata.evaluation
    if evaluation.method == "not_evaluated":
        out.print(
            "metrics: unknown (saved without data to measure it on; "
            "dockyard import --data CSV --target COLUMN measures it)"
        )
        out.print(f"trained on unknown data, {metadata.data.columns} columns")
        return
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in evaluation.metrics.items())
    out.print(f"metrics ({evaluation.method}, {evaluation.rows} rows): {metrics}")
    out.print(
        f"trained on {metadata.data.rows} rows x {metadata.data.columns} columns, "
        f"data sha256 {metadata.data.sha256[:16]}…"
    )


def _print_training(metadata: BundleMetadata) -> None:
    if metadata.training is not None:
        out.print(
            f"trained in image {metadata.training.image} from {metadata.training.lock} "
            f"(sha256 {metadata.training.lock_sha256[:16]}…): its serving image installs "
            "the same pinned versions"
        )


def register(app: typer.Typer) -> None:
    app.command()(inspect)

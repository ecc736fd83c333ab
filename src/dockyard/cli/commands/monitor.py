"""``dockyard monitor``: a served model's logged inputs and predictions against its training
reference, and its live metrics from feedback; exits non-zero on drift (for cron and CI)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import typer

from dockyard.cli.console import out
from dockyard.errors import ExitCode, UsageError
from dockyard.monitoring.source import LogReader
from dockyard.monitoring.summary import duration_seconds

_SQLITE = "sqlite:///"
_POSTGRES = ("postgresql://", "postgres://")


def parse_duration(text: str) -> float:
    """``--since``: ``30m``, ``24h``, ``7d`` or ``2w`` in seconds."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise UsageError(
            f"--since {text!r} is not a duration: give a positive number and a unit, "
            "m (minutes), h (hours), d (days) or w (weeks), e.g. 30m, 24h or 7d."
        )
    return seconds


def open_log(url: str) -> LogReader:
    """The prediction log at ``url``, opened by ``dockyard.monitoring.store.open_store``."""
    if url.startswith(_SQLITE):
        path = Path(url.removeprefix(_SQLITE))
        if not path.is_file():
            raise UsageError(
                f"No prediction log at {path}: the file does not exist.",
                hint=f"Serve the model with --prediction-log {url} first, or give the URL "
                "the server logs to.",
            )
    elif not url.startswith(_POSTGRES):
        raise UsageError(
            f"--log {url!r} is not a prediction log URL: give sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE."
        )
    from dockyard.monitoring.store import open_store  # and its driver: only to read a log

    reader: LogReader = open_store(url)
    return reader


def monitor(
    bundle: Path = typer.Argument(..., help="The bundle that is served (its bundle.json)."),
    log: str = typer.Option(
        ...,
        "--log",
        envvar="DOCKYARD_PREDICTION_LOG",
        metavar="URL",
        help="The prediction log: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB.",
        show_default=False,
    ),
    since: str = typer.Option(
        "24h", metavar="DURATION", help="The window: the last 30m, 24h, 7d, …"
    ),
    psi: float = typer.Option(
        0.2, "--psi", envvar="DOCKYARD_DRIFT_PSI", help="Drift when a PSI is above this."
    ),
    p_value: float = typer.Option(
        0.01,
        "--p-value",
        envvar="DOCKYARD_DRIFT_P_VALUE",
        help="Drift when a test's p-value is below this.",
    ),
    min_rows: int = typer.Option(
        100,
        "--min-rows",
        envvar="DOCKYARD_DRIFT_MIN_ROWS",
        help="Fewer live values than this: not enough data (never drift).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Compare a model's logged inputs and predictions with its training data (PSI and a
    KS or chi-squared test per feature) and show live metrics from feedback. Exits with
    code 7 when a feature or the predictions drift."""
    from dockyard.bundle import read_metadata
    from dockyard.monitoring.drift import Thresholds
    from dockyard.monitoring.report import build_report, require_reference

    window = parse_duration(since)
    if not 0 < p_value < 1 or psi <= 0 or min_rows < 1:
        raise UsageError("--psi must be positive, --p-value between 0 and 1, --min-rows >= 1.")
    metadata = read_metadata(bundle)
    reference = require_reference(metadata, str(bundle))
    reader = open_log(log)
    try:
        until = time.time()
        report = build_report(
            metadata,
            reference,
            reader,
            since=until - window,
            until=until,
            thresholds=Thresholds(psi=psi, p_value=p_value, min_rows=min_rows),
            source=f"The prediction log {_shown(log)}",
        )
    finally:
        reader.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        out.print(report.render())
    if report.drifted:
        raise typer.Exit(ExitCode.DRIFT)


def _shown(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def register(app: typer.Typer) -> None:
    app.command()(monitor)

"""The monitor's verdict on one model over one window: drift per feature and of the
predictions, live metrics from feedback, as a table for people and JSON for machines."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dockyard.bundle.metadata import BundleMetadata, Reference
from dockyard.errors import UsageError
from dockyard.monitoring.drift import Comparison, Thresholds, compare
from dockyard.monitoring.live import LiveMetrics, live_metrics
from dockyard.monitoring.source import LoggedRowView, LogReader

PREDICTION = "(prediction)"
"""The row of the table that compares the predictions."""


@dataclass(frozen=True, slots=True)
class Window:
    """The logged rows the report covers."""

    since: float
    until: float
    rows: int
    """Rows of this bundle's version compared with its reference."""
    other_versions: dict[str, int]
    """Rows of the same model name but another version, left out."""
    without_inputs: int
    """Rows logged without their inputs (``prediction_log_inputs`` off)."""


@dataclass(frozen=True, slots=True)
class MonitorReport:
    model: str
    version: str
    window: Window
    thresholds: Thresholds
    features: dict[str, Comparison]
    prediction: Comparison
    live: LiveMetrics | None
    trained: dict[str, float]
    """The bundle's own evaluation, beside which the live metrics are shown."""

    @property
    def drifted(self) -> list[str]:
        """The features (and :data:`PREDICTION`) whose drift crosses a threshold."""
        found = [name for name, c in self.features.items() if c.drift]
        return [*found, PREDICTION] if self.prediction.drift else found

    def to_json(self) -> dict[str, Any]:
        """The ``dockyard monitor --json`` document."""
        live = None
        if self.live is not None:
            live = {
                "rows": self.live.rows,
                "metrics": self.live.metrics,
                "trained": {k: self.trained[k] for k in self.live.metrics if k in self.trained},
                "skipped": self.live.skipped,
            }
        return {
            "model": self.model,
            "version": self.version,
            "drift": bool(self.drifted),
            "window": {
                "since": _iso(self.window.since),
                "until": _iso(self.window.until),
                "rows": self.window.rows,
                "other_versions": self.window.other_versions,
                "without_inputs": self.window.without_inputs,
            },
            "thresholds": asdict(self.thresholds),
            "features": {name: _comparison(c) for name, c in self.features.items()},
            "prediction": _comparison(self.prediction),
            "live": live,
        }

    def render(self) -> Group:
        """The table and the lines under it that ``dockyard monitor`` prints."""
        window = self.window
        heading = (
            f"[bold]{self.model}[/] {escape(self.version)}: {window.rows} logged rows from "
            f"{_iso(window.since)} to {_iso(window.until)}"
        )
        table = Table()
        for column in ("feature", "kind", "n", "PSI", "test", "p-value", "verdict"):
            justify = "right" if column in ("n", "PSI", "p-value") else "left"
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for name, c in [*self.features.items(), (PREDICTION, self.prediction)]:
            table.add_row(
                name,
                c.kind,
                str(c.n),
                "" if c.psi is None else f"{c.psi:.3f}",
                c.test,
                _p(c.p_value),
                Text(c.verdict, style=_STYLES[c.verdict]),
            )
        lines: list[Any] = [heading, table]
        if window.other_versions:
            others = ", ".join(f"{v} ({n} rows)" for v, n in window.other_versions.items())
            lines.append(f"left out: rows of other versions: {others}")
        if window.without_inputs:
            lines.append(f"{window.without_inputs} rows were logged without inputs")
        lines.append(self._live_line())
        lines.append(self._summary())
        return Group(*lines)

    def _live_line(self) -> str:
        if self.live is None:
            if self.trained and set(self.trained) & {"accuracy", "r2"}:
                return "live metrics: no feedback in this window"
            return "live metrics: none (the model has no truth to compare with)"
        shown = []
        for key, value in self.live.metrics.items():
            trained = self.trained.get(key)
            text = "n/a" if value is None else f"{value:.4g}"
            shown.append(f"{key} {text}" + ("" if trained is None else f" (trained {trained:.4g})"))
        return f"live metrics ({self.live.rows} labelled rows): " + ", ".join(shown)

    def _summary(self) -> str:
        drifted = self.drifted
        rule = f"PSI > {self.thresholds.psi:g} or p < {self.thresholds.p_value:g}"
        if not drifted:
            return f"no drift ({rule}; at least {self.thresholds.min_rows} rows)"
        return f"DRIFT in {', '.join(drifted)} ({rule})"


_STYLES = {"ok": "green", "drift": "bold red", "not enough data": "yellow"}


def _p(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _comparison(c: Comparison) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "n": c.n,
        "psi": None if c.psi is None else round(c.psi, 6),
        "test": c.test,
        "statistic": None if c.statistic is None else round(c.statistic, 6),
        "p_value": c.p_value,
        "drift": c.drift,
        "verdict": c.verdict,
        "bins": c.bins,
        "reference": c.reference_counts,
        "live": c.live_counts,
    }


def require_reference(metadata: BundleMetadata, bundle: str) -> Reference:
    """The bundle's training reference, or an error that says how to get one."""
    if metadata.reference is None:
        raise UsageError(
            f"Bundle {bundle} ({metadata.name} {metadata.version}) has no training reference "
            "to measure drift against: it was saved before Dockyard recorded one.",
            hint="Save it again from its training data (dockyard train, dockyard import or "
            "dockyard.save_bundle()); the model still serves as before.",
        )
    return metadata.reference


def build_report(
    metadata: BundleMetadata,
    reference: Reference,
    log: LogReader,
    *,
    since: float,
    until: float,
    thresholds: Thresholds,
    source: str = "the prediction log",
) -> MonitorReport:
    """Read the window of ``metadata.name`` from ``log`` and compare it with ``reference``."""
    logged = log.window(metadata.name, since, until)
    versions = Counter(row.version for row in logged)
    rows = [row for row in logged if row.version == metadata.version]
    if not logged:
        raise UsageError(
            f"{source} has no answered predictions of model {metadata.name!r} between "
            f"{_iso(since)} and {_iso(until)}.",
            hint=f"Check that the server logs there (dockyard serve --prediction-log URL) and "
            f"serves the model as {metadata.name!r}, or widen --since.",
        )
    if not rows:
        found = ", ".join(sorted(versions))
        raise UsageError(
            f"{source} has predictions of {metadata.name!r} in this window from version(s) "
            f"{found} only, not from this bundle's version {metadata.version}.",
            hint="Monitor the bundle of the version that is served.",
        )
    del versions[metadata.version]
    with_inputs = [row.inputs for row in rows if row.inputs is not None]
    features = {
        name: compare(ref, [inputs.get(name) for inputs in with_inputs], thresholds)
        for name, ref in reference.features.items()
    }
    prediction = compare(reference.prediction, _predictions(rows), thresholds)
    live = live_metrics(metadata.task, log.labelled(metadata.name, since))
    return MonitorReport(
        model=metadata.name,
        version=metadata.version,
        window=Window(
            since, until, len(rows), dict(sorted(versions.items())), len(rows) - len(with_inputs)
        ),
        thresholds=thresholds,
        features=features,
        prediction=prediction,
        live=live,
        trained=dict(metadata.evaluation.metrics),
    )


def _predictions(rows: Sequence[LoggedRowView]) -> list[Any]:
    return [row.prediction for row in rows]

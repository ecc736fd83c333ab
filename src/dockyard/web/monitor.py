"""The monitoring page of one model (``/models/{name}/monitor``): a window of the prediction
log against the bundle's training reference. Reference and live histograms per feature as
SVG drawn here (no chart library, no script), PSI per feature with a drift badge, the
prediction mix and live accuracy (or MAE) over time, latency percentiles.

The numbers come from :mod:`dockyard.monitoring.summary`; this module reads the log (a
:class:`LogReader`, the prediction log's store) in a worker thread and lays the numbers out
for ``templates/monitor.html``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from anyio import to_thread

from dockyard.errors import BadRequest
from dockyard.monitoring import summary
from dockyard.monitoring.source import LoggedRowView, LogReader
from dockyard.monitoring.summary import DRIFT_THRESHOLD, Buckets, Histogram

if TYPE_CHECKING:
    from dockyard.predictor import Predictor

DEFAULT_SINCE = "24h"
SINCE_CHOICES = ("1h", "24h", "7d", "30d")
CHART_WIDTH = 900
"""Time charts; feature histograms are narrower (``FEATURE_WIDTH``), their text as legible."""
FEATURE_WIDTH = 320
CHART_HEIGHT = 140
TIME_TICKS = 6
"""Axis labels on a time chart at most (about)."""
FEATURE_TICKS = 3
"""Axis labels under a feature histogram (about; four for ten bins): a bin's range such as
``4.3 to 4.81`` is about 70 of the chart's 320 units wide."""
PALETTE_SIZE = 8
"""Colours for classes in the prediction mix (``.mix-0`` to ``.mix-7`` in the CSS)."""


def bundle_reference(predictor: Predictor) -> Mapping[str, Any] | None:
    """The training reference in ``bundle.json`` (schema 4), as JSON; ``None`` for a bundle
    saved before Dockyard recorded one."""
    reference = predictor.metadata.reference
    return None if reference is None else reference.model_dump(mode="json")


# -- what the template draws ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    y: float
    height: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG bar chart: bars in a ``CHART_WIDTH`` x ``CHART_HEIGHT`` box, axis labels."""

    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]
    description: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


@dataclass(frozen=True, slots=True)
class FeatureView:
    name: str
    kind: str
    psi: float | None
    drift: bool
    chart: Chart
    live: int
    missing: int


@dataclass(frozen=True, slots=True)
class BucketRow:
    label: str
    pairs: int
    score: str


@dataclass(slots=True)
class MonitorPage:
    since: str
    choices: tuple[str, ...] = SINCE_CHOICES
    problem: str | None = None
    logging: bool = True
    window_start: str = ""
    rows: int = 0
    requests: int = 0
    has_reference: bool = False
    inputs_logged: bool = False
    features: list[FeatureView] = field(default_factory=list)
    prediction: FeatureView | None = None
    mix: Chart | None = None
    mix_legend: list[tuple[str, str]] = field(default_factory=list)
    metric_name: str = ""
    scores: dict[str, str] = field(default_factory=dict)
    score_chart: Chart | None = None
    score_rows: list[BucketRow] = field(default_factory=list)
    latency: dict[str, str] | None = None
    threshold: float = DRIFT_THRESHOLD


async def monitor_page(
    predictor: Predictor, log: LogReader | None, since: str | None, now: float | None = None
) -> tuple[MonitorPage, int]:
    """The page for ``predictor`` over the last ``since`` (default 24h), and its status."""
    since = since or DEFAULT_SINCE
    try:
        seconds = summary.parse_duration(since)
    except BadRequest as exc:
        return MonitorPage(since=DEFAULT_SINCE, problem=exc.message), 400
    page = MonitorPage(since=since)
    if log is None:
        page.logging = False
        return page, 200
    until = time.time() if now is None else now
    start = until - seconds
    return await to_thread.run_sync(_fill, page, predictor, log, start, until), 200


def _fill(
    page: MonitorPage, predictor: Predictor, log: LogReader, start: float, until: float
) -> MonitorPage:
    name = predictor.name
    rows = log.window(name, start, until)
    spans = summary.buckets(start, until)
    page.window_start = _when(start)
    page.rows = len(rows)
    page.requests = sum(1 for r in rows if r.row == 0)
    reference = bundle_reference(predictor)
    page.has_reference = reference is not None
    page.inputs_logged = any(r.inputs is not None for r in rows)
    if reference is not None and rows:
        page.features = [
            _feature(feature, h)
            for feature, h in summary.feature_histograms(reference, rows).items()
        ]
        page.prediction = _feature("prediction", summary.prediction_histogram(reference, rows))
    regression = predictor.task == "regression"
    if rows:
        _mix(page, predictor, rows, spans, regression)
        latency = summary.latency_percentiles(rows)
        page.latency = {k: f"{v:,.1f} ms" for k, v in latency.items()} if latency else None
    if predictor.task in ("classification", "regression"):
        _scores(page, log, name, spans, start, regression)
    return page


def _feature(name: str, h: Histogram) -> FeatureView:
    value = h.psi
    ref_total = sum(h.reference) or 1
    live_total = sum(h.live) or 1
    shares = [(r / ref_total, v / live_total) for r, v in zip(h.reference, h.live, strict=True)]
    top = max((max(pair) for pair in shares), default=0.0) or 1.0
    slot = FEATURE_WIDTH / max(len(shares), 1)
    bars: list[Bar] = []
    for i, ((ref, live), label) in enumerate(zip(shares, h.labels, strict=True)):
        width = slot * 0.4
        for offset, share, css, who in (
            (0.1, ref, "bar-ref", "training"),
            (0.5, live, "bar-live", "live"),
        ):
            height = share / top * (CHART_HEIGHT - 4)
            bars.append(
                Bar(
                    i * slot + slot * offset,
                    width,
                    CHART_HEIGHT - height,
                    height,
                    css,
                    f"{label}: {who} {share:.1%}",
                )
            )
    # Every bar's own range is in its title; the axis names a few, so that none overlap.
    labels = _ticks([_short(label) for label in h.labels], slot, FEATURE_TICKS)
    description = f"{name}: share of rows in each bin, training against live"
    return FeatureView(
        name,
        h.kind,
        value,
        value is not None and value > DRIFT_THRESHOLD,
        Chart(tuple(bars), labels, description, FEATURE_WIDTH),
        sum(h.live),
        h.missing,
    )


def _mix(
    page: MonitorPage,
    predictor: Predictor,
    rows: Sequence[LoggedRowView],
    spans: Buckets,
    regression: bool,
) -> None:
    slot = CHART_WIDTH / len(spans.starts)
    bars: list[Bar] = []
    if regression:
        means = summary.mean_prediction(rows, spans)
        present = [m for m in means if m is not None]
        low, high = min(present, default=0.0), max(present, default=1.0)
        span = (high - low) or 1.0
        for i, mean in enumerate(means):
            if mean is not None:
                height = 8 + (mean - low) / span * (CHART_HEIGHT - 12)
                title = f"{_clock(spans.starts[i], spans.step)}: mean {mean:.4g}"
                bars.append(
                    Bar(i * slot + 2, slot - 4, CHART_HEIGHT - height, height, "mix-0", title)
                )
    else:
        classes = list(predictor.class_keys)
        mix = summary.prediction_mix(rows, spans, classes)
        names = list(dict.fromkeys(k for bucket in mix for k in bucket))
        colour = {n: f"mix-{i % PALETTE_SIZE}" for i, n in enumerate(names)}
        page.mix_legend = [(n, colour[n]) for n in names]
        tallest = max(sum(bucket.values()) for bucket in mix) or 1
        for i, bucket in enumerate(mix):
            y = float(CHART_HEIGHT)
            for label, count in bucket.items():
                if count:
                    height = count / tallest * (CHART_HEIGHT - 4)
                    y -= height
                    title = f"{_clock(spans.starts[i], spans.step)}: {label} {count}"
                    bars.append(Bar(i * slot + 2, slot - 4, y, height, colour[label], title))
    page.mix = Chart(tuple(bars), _time_labels(spans, slot), "Predictions per time bucket")


def _scores(
    page: MonitorPage, log: LogReader, name: str, spans: Buckets, start: float, regression: bool
) -> None:
    # labelled() gives the pairs since a time: one read per bucket start, and each
    # bucket's tally is the difference of two (summary.bucket_tallies).
    pairs = log.labelled(name, start)
    if not pairs:
        return
    cumulative = [summary.tally(pairs, regression)]
    cumulative += [summary.tally(log.labelled(name, s), regression) for s in spans.starts[1:]]
    per_bucket = summary.bucket_tallies(cumulative)
    if regression:
        page.metric_name = "Mean absolute error"
        scores = summary.regression_scores(pairs) or {}
        page.scores = {"MAE": f"{scores['mae']:.4g}"} if scores else {}
        if "r2" in scores:
            page.scores["R²"] = f"{scores['r2']:.3f}"
    else:
        page.metric_name = "Accuracy"
        scores = summary.classification_scores(pairs) or {}
        page.scores = {
            "Accuracy": f"{scores['accuracy']:.1%}",
            "Macro-F1": f"{scores['macro_f1']:.3f}",
        }
    page.scores["Labelled rows"] = f"{len(pairs):,}"
    means = [t.mean for t in per_bucket]
    top = 1.0 if not regression else max((m for m in means if m is not None), default=1.0) or 1.0
    slot = CHART_WIDTH / len(spans.starts)
    bars: list[Bar] = []
    for i, (tally, mean) in enumerate(zip(per_bucket, means, strict=True)):
        if mean is None:
            continue
        text = f"{mean:.4g}" if regression else f"{mean:.1%}"
        label = _clock(spans.starts[i], spans.step)
        height = max(mean / top * (CHART_HEIGHT - 4), 2.0)
        bars.append(
            Bar(
                i * slot + 2,
                slot - 4,
                CHART_HEIGHT - height,
                height,
                "bar-live",
                f"{label}: {text}",
            )
        )
        page.score_rows.append(BucketRow(label, tally.pairs, text))
    page.score_chart = Chart(
        tuple(bars), _time_labels(spans, slot), f"{page.metric_name} per time bucket"
    )


def _time_labels(spans: Buckets, slot: float) -> tuple[tuple[float, str], ...]:
    return _ticks([_clock(s, spans.step) for s in spans.starts], slot, TIME_TICKS)


def _ticks(labels: Sequence[str], slot: float, most: int) -> tuple[tuple[float, str], ...]:
    """Axis labels under the bars of ``slot`` width: one bar in ``len(labels) // most``,
    so that about ``most`` are shown (one more at most) and they never overlap."""
    every = max(1, len(labels) // most)
    return tuple((i * slot + slot / 2, label) for i, label in enumerate(labels) if i % every == 0)


def _clock(epoch: float, step: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%H:%M" if step < 86400 else "%d %b")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _short(label: str) -> str:
    return label if len(label) <= 14 else label[:13] + "…"


__all__ = ["MonitorPage", "bundle_reference", "monitor_page"]

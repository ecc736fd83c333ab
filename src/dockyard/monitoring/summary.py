"""What the monitoring page shows, computed from a window of logged rows: per feature the
live counts in the bundle reference's bins and their population stability index, the
prediction mix over time, live accuracy (or mean absolute error) over time from feedback,
and latency percentiles.

Pure functions over plain values, numpy only: this runs in the serving image, which has
neither scipy nor pandas. The reference and the rows have the shapes of the prediction-log
contract (``MONITORING.md``): a reference feature is ``{"kind": "number"|"text", "edges",
"counts"}`` or ``{"kind": "category", "counts": {value: n}}``; a row has ``time``,
``latency_ms``, ``inputs`` (feature -> JSON value, or ``None``), ``prediction`` and ``row``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dockyard.bundle import bins
from dockyard.bundle.bins import OTHER, category_key
from dockyard.errors import BadRequest
from dockyard.monitoring.source import LoggedRowView

DRIFT_THRESHOLD = 0.2
"""A PSI above this is drift (the usual rule of thumb: under 0.1 stable, 0.1-0.2 moderate)."""
MAX_BUCKETS = 24
"""Time buckets on the page's charts at most."""
STEPS = (300.0, 900.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
"""Bucket widths to choose from (5 min to a week): the smallest that fits the window."""
MAX_WINDOW = 90 * 86400.0
_DURATION = re.compile(r"([0-9]{1,6}(?:\.[0-9]{1,3})?)([mhdw])")
_UNITS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


# -- durations ------------------------------------------------------------------------------


def duration_seconds(text: str, *, at_most: float | None = None) -> float | None:
    """``30m``, ``1.5h``, ``7d``, ``2w`` -> seconds; ``None`` for anything else, zero, or
    more than ``at_most`` seconds. The one reading of a window for the monitoring page and
    ``dockyard monitor --since``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0 or (at_most is not None and seconds > at_most):
        return None
    return seconds


def parse_duration(text: str) -> float:
    """The page's ``since``: a duration of at most 90 days, else refused with 400."""
    seconds = duration_seconds(text, at_most=MAX_WINDOW)
    if seconds is None:
        raise BadRequest(
            f"'since' must be a duration such as 30m, 24h, 7d or 2w, at most 90 days; "
            f"got {text[:40]!r}."
        )
    return seconds


# -- bins and PSI ---------------------------------------------------------------------------


def same_label(a: Any, b: Any) -> bool:
    """Whether a prediction and a true label name the same class: equal as text, or equal
    numbers (a class 2.0 and a label 2)."""
    if _is_number(a) and _is_number(b):
        return float(a) == float(b)
    return category_key(a) == category_key(b)


@dataclass(frozen=True, slots=True)
class Histogram:
    """Reference and live counts over the same bins, and how many live values were missing."""

    kind: str
    labels: tuple[str, ...]
    reference: tuple[int, ...]
    live: tuple[int, ...]
    missing: int = 0

    @property
    def psi(self) -> float | None:
        return psi(self.reference, self.live)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float | None:
    """Population stability index of ``actual`` counts against ``expected`` counts over the
    same bins, as ``dockyard monitor`` and the drift gauges compute it
    (:func:`dockyard.bundle.bins.psi`); ``None`` when either side has no values."""
    if sum(expected) <= 0 or sum(actual) <= 0:
        return None
    return bins.psi(expected, actual)


def histogram(spec: Mapping[str, Any], values: Sequence[Any]) -> Histogram:
    """Count live ``values`` in the bins of one reference entry (a feature's or the
    predictions'). Numbers and text lengths below the first edge count in the first bin
    and above the last in the last, as the reference's own extremes do; ``None`` and NaN
    are missing. Category values the reference does not list count as ``(other)``."""
    kind = spec["kind"]
    if kind == "category":
        return _category_histogram(spec["counts"], values)
    edges = np.asarray(spec["edges"], dtype=np.float64)
    reference = tuple(int(c) for c in spec["counts"])
    present: list[float] = []
    for value in values:
        if kind == "text":
            if isinstance(value, str):
                present.append(float(len(value)))
        elif _is_number(value):
            present.append(float(value))
    missing = len(values) - len(present)
    index = np.searchsorted(edges[1:-1], np.asarray(present, dtype=np.float64), side="right")
    live = np.bincount(index, minlength=len(reference))[: len(reference)]
    labels = tuple(f"{_number(lo)} to {_number(hi)}" for lo, hi in itertools.pairwise(edges))
    return Histogram(kind, labels, reference, tuple(int(c) for c in live), missing)


def _category_histogram(counts: Mapping[str, int], values: Sequence[Any]) -> Histogram:
    labels = list(counts)
    position = {label: i for i, label in enumerate(labels)}
    live = [0] * len(labels)
    missing = 0
    other = 0
    for value in values:
        if value is None:
            missing += 1
            continue
        i = position.get(category_key(value))
        if i is None:
            other += 1
        else:
            live[i] += 1
    reference = [int(counts[label]) for label in labels]
    if other:
        if OTHER in position:
            live[position[OTHER]] += other
        else:
            labels.append(OTHER)
            reference.append(0)
            live.append(other)
    return Histogram("category", tuple(labels), tuple(reference), tuple(live), missing)


def _number(value: float) -> str:
    return f"{value:.4g}"


def feature_histograms(
    reference: Mapping[str, Any], rows: Sequence[LoggedRowView]
) -> dict[str, Histogram]:
    """Each reference feature's histogram over the rows that logged their inputs."""
    logged = [r.inputs for r in rows if r.inputs is not None]
    return {
        name: histogram(spec, [inputs.get(name) for inputs in logged])
        for name, spec in reference["features"].items()
    }


def prediction_histogram(reference: Mapping[str, Any], rows: Sequence[LoggedRowView]) -> Histogram:
    return histogram(reference["prediction"], [r.prediction for r in rows])


# -- time -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buckets:
    """Time buckets of ``step`` seconds from ``start``: ``starts[i]`` to ``starts[i] + step``."""

    start: float
    step: float
    starts: tuple[float, ...]

    def index(self, times: Sequence[float]) -> np.ndarray:
        i = np.floor((np.asarray(times, dtype=np.float64) - self.start) / self.step)
        return np.clip(i, 0, len(self.starts) - 1).astype(np.int64)


def buckets(since: float, until: float) -> Buckets:
    """At most about :data:`MAX_BUCKETS` buckets covering ``since`` to ``until``, their
    width the smallest of :data:`STEPS` that fits, aligned to it (whole hours, days)."""
    span = max(until - since, 1.0)
    step = next((s for s in STEPS if span / s <= MAX_BUCKETS), STEPS[-1])
    start = math.floor(since / step) * step
    count = max(1, math.ceil((until - start) / step))
    return Buckets(start, step, tuple(start + i * step for i in range(count)))


def prediction_mix(
    rows: Sequence[LoggedRowView], spans: Buckets, classes: Sequence[str]
) -> list[dict[str, int]]:
    """For categorical predictions: per bucket, how many rows got each class (every class
    listed, in ``classes`` order, then any other answer)."""
    mix: list[dict[str, int]] = [dict.fromkeys(classes, 0) for _ in spans.starts]
    if not rows:
        return mix
    for i, row in zip(spans.index([r.time for r in rows]), rows, strict=True):
        key = category_key(row.prediction)
        mix[i][key] = mix[i].get(key, 0) + 1
    return mix


def mean_prediction(rows: Sequence[LoggedRowView], spans: Buckets) -> list[float | None]:
    """For numeric predictions: per bucket, the mean predicted value (``None`` if empty)."""
    sums = np.zeros(len(spans.starts))
    counts = np.zeros(len(spans.starts))
    numbers = [r for r in rows if isinstance(r.prediction, int | float)]
    if numbers:
        index = spans.index([r.time for r in numbers])
        np.add.at(sums, index, [float(r.prediction) for r in numbers])
        np.add.at(counts, index, 1)
    return [float(s / c) if c else None for s, c in zip(sums, counts, strict=True)]


def latency_percentiles(rows: Sequence[LoggedRowView]) -> dict[str, float] | None:
    """p50, p95 and p99 of request latency in milliseconds: one value per request (its
    first row; a CSV upload's chunks after the first are not requests)."""
    latencies = [r.latency_ms for r in rows if r.row == 0]
    if not latencies:
        return None
    p50, p95, p99 = np.percentile(np.asarray(latencies, dtype=np.float64), [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


# -- live metrics from feedback -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """What adds up across labelled pairs: their count, and the correct ones (classifiers)
    or the sum of absolute errors (regressors)."""

    pairs: int
    total: float

    def __sub__(self, other: Tally) -> Tally:
        # Never below zero: feedback that arrived between two reads is not taken back.
        return Tally(max(self.pairs - other.pairs, 0), max(self.total - other.total, 0.0))

    @property
    def mean(self) -> float | None:
        return self.total / self.pairs if self.pairs else None


def tally(pairs: Sequence[tuple[Any, Any]], regression: bool) -> Tally:
    if regression:
        errors = [abs(float(p) - float(t)) for p, t in pairs if _is_number(p) and _is_number(t)]
        return Tally(len(errors), float(sum(errors)))
    return Tally(len(pairs), float(sum(same_label(p, t) for p, t in pairs)))


def bucket_tallies(cumulative: Sequence[Tally]) -> list[Tally]:
    """Per bucket, from the tallies of everything labelled since each bucket's start (the
    log's ``labelled(model, since)`` gives pairs since a time, not between two): bucket
    ``i`` is ``cumulative[i] - cumulative[i + 1]``."""
    after = [*cumulative[1:], Tally(0, 0.0)]
    return [c - a for c, a in zip(cumulative, after, strict=True)]


def classification_scores(pairs: Sequence[tuple[Any, Any]]) -> dict[str, float] | None:
    """Accuracy and macro-F1 (over the labels that occur as truth or prediction, as
    scikit-learn's default)."""
    if not pairs:
        return None
    predicted = [category_key(p) for p, _ in pairs]
    truth = [category_key(t) for _, t in pairs]
    correct = [same_label(p, t) for p, t in pairs]
    f1s = []
    for label in sorted(set(predicted) | set(truth)):
        tp = sum(c and t == label for c, t in zip(correct, truth, strict=True))
        fp = sum(p == label and not c for p, c in zip(predicted, correct, strict=True))
        fn = sum(t == label and not c for t, c in zip(truth, correct, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": sum(correct) / len(pairs), "macro_f1": float(np.mean(f1s))}


def regression_scores(pairs: Sequence[tuple[Any, Any]]) -> dict[str, float] | None:
    """Mean absolute error and R² (``None`` with fewer than two pairs or constant truth)."""
    numbers = [(float(p), float(t)) for p, t in pairs if _is_number(p) and _is_number(t)]
    if not numbers:
        return None
    predicted, truth = np.asarray(numbers).T
    scores = {"mae": float(np.mean(np.abs(predicted - truth)))}
    spread = float(np.sum((truth - truth.mean()) ** 2))
    if len(numbers) > 1 and spread > 0:
        scores["r2"] = 1.0 - float(np.sum((truth - predicted) ** 2)) / spread
    return scores


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


__all__ = [
    "DRIFT_THRESHOLD",
    "Buckets",
    "Histogram",
    "Tally",
    "bucket_tallies",
    "buckets",
    "classification_scores",
    "duration_seconds",
    "feature_histograms",
    "histogram",
    "latency_percentiles",
    "mean_prediction",
    "parse_duration",
    "prediction_histogram",
    "prediction_mix",
    "psi",
    "regression_scores",
    "same_label",
    "tally",
]

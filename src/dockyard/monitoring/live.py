"""Live metrics: how right the served predictions were, from the feedback sent for them.

The log joins each feedback item to the row it is about (``Store.labelled``): the pairs
here are (prediction, truth) as logged, JSON scalars. A classifier's labels are compared
as the reference spells them (``true``/``false`` for booleans, ``str()`` otherwise), so
``1`` and ``"1"`` are the same label; a regressor's values as floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dockyard.bundle.bins import category_key
from dockyard.bundle.metadata import Task


@dataclass(frozen=True, slots=True)
class LiveMetrics:
    """Metrics over the labelled rows of a window (same names as the bundle's evaluation)."""

    task: Task
    rows: int
    """(prediction, truth) pairs the metrics are computed on."""
    metrics: dict[str, float | None]
    """``accuracy`` and ``f1_macro``, or ``mae`` and ``r2`` (``None`` where undefined:
    R² of fewer than two rows, or of a truth that never varies)."""
    skipped: int = 0
    """Pairs left out: a regressor's truth or prediction that is not a number."""
    counts: dict[str, int] = field(default_factory=dict)
    """Classifiers: labelled rows per true label."""


def live_metrics(task: Task, pairs: Sequence[tuple[Any, Any]]) -> LiveMetrics | None:
    """Metrics of ``pairs`` for a classifier or regressor; ``None`` without feedback, or for
    a clustering or outlier model (they have no truth to compare with)."""
    if task == "classification":
        return _classification(pairs) if pairs else None
    if task == "regression":
        return _regression(pairs) if pairs else None
    return None


def _classification(pairs: Sequence[tuple[Any, Any]]) -> LiveMetrics:
    from sklearn.metrics import f1_score

    predicted = [category_key(p) for p, _ in pairs]
    truth = [category_key(t) for _, t in pairs]
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(pairs)
    f1 = float(f1_score(truth, predicted, average="macro", zero_division=0.0))
    counts: dict[str, int] = {}
    for label in truth:
        counts[label] = counts.get(label, 0) + 1
    return LiveMetrics(
        "classification",
        len(pairs),
        {"accuracy": accuracy, "f1_macro": f1},
        counts=dict(sorted(counts.items())),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _regression(pairs: Sequence[tuple[Any, Any]]) -> LiveMetrics:
    numbers = [(_number(p), _number(t)) for p, t in pairs]
    kept = [(p, t) for p, t in numbers if p is not None and t is not None]
    skipped = len(pairs) - len(kept)
    if not kept:
        return LiveMetrics("regression", 0, {"mae": None, "r2": None}, skipped)
    predicted = np.array([p for p, _ in kept])
    truth = np.array([t for _, t in kept])
    mae = float(np.mean(np.abs(truth - predicted)))
    spread = float(np.sum((truth - truth.mean()) ** 2))
    r2 = 1.0 - float(np.sum((truth - predicted) ** 2)) / spread if spread > 0 else None
    return LiveMetrics("regression", len(kept), {"mae": mae, "r2": r2}, skipped)

"""The training reference: each feature's and the predictions' distribution at save time.

``dockyard monitor`` compares logged inputs and predictions with it (see
:mod:`dockyard.monitoring.drift`), so the binning here is the one the monitor applies to
live values, and the server's drift gauges too: :mod:`dockyard.bundle.bins` holds what
they share (:func:`~dockyard.bundle.bins.bin_indices` for numbers and text lengths,
:func:`~dockyard.bundle.bins.category_key` for categories). It is computed from the
training rows only, deterministically (same data, same bytes), and stays small: at most :data:`BINS` bins per number or text feature and
:data:`MAX_CATEGORIES` values per category.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from dockyard.bundle.bins import OTHER, bin_indices, category_key
from dockyard.bundle.metadata import (
    BinnedReference,
    CategoryReference,
    DistributionReference,
    Feature,
    Reference,
    Task,
)

BINS: Final = 10
"""Quantile bins per number (and per text length): deciles of the training values."""
MAX_CATEGORIES: Final = 50
"""Values kept per category; rarer ones are counted together as :data:`OTHER`."""
_DIGITS: Final = 6
"""Significant digits kept of a bin edge: bundle.json stays short and readable."""


def bin_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Bin edges for finite ``values``: the minimum, the inner quantiles and the maximum.

    A column with at most ``bins`` distinct values (integers, flags, short texts) gets one
    bin per value, split half-way between neighbours, so that no two values share a bin;
    a constant column has one bin, ``[c, c]``. Edges are rounded to :data:`_DIGITS`
    significant digits and deduplicated."""
    distinct = np.unique(values)
    if len(distinct) == 0:
        return []
    if len(distinct) <= bins:
        inner = (distinct[:-1] + distinct[1:]) / 2
        raw = [distinct[0], *inner, distinct[-1]]
    else:
        raw = list(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    edges = sorted({_round(float(e)) for e in raw})
    return edges if len(edges) > 1 else [edges[0], edges[0]]


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, _DIGITS - 1 - math.floor(math.log10(abs(value))))


def finite_numbers(values: Iterable[Any] | pd.Series) -> np.ndarray:
    """The finite numbers among ``values`` as float64 (missing and non-numbers dropped)."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    array: np.ndarray = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    finite: np.ndarray = array[np.isfinite(array)]
    return finite


def numbers(
    values: Iterable[Any] | pd.Series, kind: Literal["number", "text"] = "number"
) -> BinnedReference:
    """The binned distribution of the finite numbers among ``values`` (``kind`` ``text``:
    of text lengths)."""
    array = finite_numbers(values)
    edges = bin_edges(array)
    if not edges:
        return BinnedReference(kind=kind, edges=[0.0, 0.0], counts=[0])
    counts = np.bincount(bin_indices(edges, array), minlength=len(edges) - 1)
    return BinnedReference(kind=kind, edges=edges, counts=[int(n) for n in counts])


def text_lengths(values: Iterable[Any]) -> list[int]:
    """The length in characters of each text (missing values skipped)."""
    return [len(v) if isinstance(v, str) else len(str(v)) for v in values if not _missing(v)]


def categories(
    values: Iterable[Any] | pd.Series | np.ndarray, known: Sequence[Any] = ()
) -> CategoryReference:
    """How often each value occurs (``known`` values listed even when absent), most
    frequent first; beyond :data:`MAX_CATEGORIES` the rarest are counted as :data:`OTHER`."""
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, np.ndarray):
        series = pd.Series(values.reshape(-1))
    else:
        series = pd.Series(list(values), dtype=object)
    counted: Counter[str] = Counter()
    for value, n in series.value_counts(dropna=True, sort=False).items():
        counted[category_key(value)] += int(n)
    for value in known:
        counted.setdefault(category_key(value), 0)
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[:MAX_CATEGORIES])
    rest = sum(n for _, n in ranked[MAX_CATEGORIES:])
    if len(ranked) > MAX_CATEGORIES:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    return CategoryReference(kind="category", counts=kept)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def feature_reference(feature: Feature, column: pd.Series) -> DistributionReference:
    """One feature's distribution, by its kind."""
    if feature.type in ("number", "integer"):
        return numbers(column.astype("float64"))
    if feature.type == "text":
        return numbers(column.dropna().astype(str).str.len(), kind="text")
    known: list[Any] = list(feature.categories or [])
    if feature.type == "boolean":
        known = [False, True]
    return categories(column, known)


def prediction_reference(
    task: Task, predictions: np.ndarray, classes: Sequence[Any] | None = None
) -> DistributionReference:
    """The predictions' distribution: values for a regressor, labels (classes, clusters,
    ``inlier``/``outlier``) for the others."""
    values = np.asarray(predictions).reshape(-1)
    if task == "regression":
        return numbers(pd.Series(values))
    return categories(values, classes or ())


def training_reference(
    frame: pd.DataFrame,
    features: Sequence[Feature],
    task: Task,
    predictions: np.ndarray,
    classes: Sequence[Any] | None = None,
) -> Reference:
    """The reference a bundle records: each feature of the training ``frame`` and the
    model's ``predictions`` on those rows."""
    return Reference(
        rows=len(frame),
        features={f.name: feature_reference(f, frame[f.name]) for f in features},
        prediction=prediction_reference(task, predictions, classes),
    )

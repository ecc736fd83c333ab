"""The binning that the training reference, the monitor and the server's drift gauges share.

The bundle's reference (:mod:`dockyard.bundle.reference`) counts training values in bins;
``dockyard monitor`` (:mod:`dockyard.monitoring.drift`) and the live gauges in ``/metrics``
(:mod:`dockyard.monitoring.gauges`) count live values in the same bins and compare the two
with the same :func:`psi`. Whatever they must agree on lives here, on numpy and the
standard library only: the server imports this module, and the serving image (``--slim``
too) has neither pandas nor scipy.

* Numbers and text lengths: :func:`bin_indices` over the reference's edges, the outer bins
  open-ended; a feature constant in training (edges ``[c, c]``) gets two bins instead,
  "is ``c``" and "is not" (:func:`binned_counts`).
* Categories: :func:`category_key` spells a value as the reference does; a value the
  reference never saw is pooled into :data:`OTHER` when the reference folded rare values
  there (it may be one of them), into :data:`UNSEEN` otherwise (:func:`folded_key`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np

PSI_EPSILON: Final = 1e-4
"""Floor of a bin's share in the PSI (an empty bin would make it infinite)."""
OTHER: Final = "(other)"
"""The reference's cell of the rarest category values, beyond its cap."""
UNSEEN: Final = "(unseen)"
"""The pooled cell of live category values absent from the reference."""


def psi(
    reference: Sequence[float] | np.ndarray,
    live: Sequence[float] | np.ndarray,
    epsilon: float = PSI_EPSILON,
) -> float:
    """The population stability index of ``live`` counts against ``reference`` counts in
    the same bins; each share is floored at ``epsilon``."""
    p = np.maximum(shares(reference), epsilon)
    q = np.maximum(shares(live), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def shares(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each count's share of the total (all zeros when the total is zero)."""
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    found: np.ndarray = array / total if total > 0 else array
    return found


def category_key(value: Any) -> str:
    """A category value or label as the reference spells it: as JSON writes it for booleans
    (``true``/``false``), ``str()`` otherwise (the spelling of ``predictor.label_text``)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def is_missing(value: Any) -> bool:
    """``None`` or a float NaN: left out of every count."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def pool_of(counts: Mapping[str, int]) -> str:
    """Where a category value the reference never saw is counted."""
    return OTHER if OTHER in counts else UNSEEN


def category_bins(counts: Mapping[str, int]) -> list[str]:
    """The cells live values of a category are counted in: the reference's values, then the
    pool (:data:`UNSEEN` is added; :data:`OTHER` is already one of them)."""
    bins = list(counts)
    return bins if OTHER in counts else [*bins, UNSEEN]


def folded_key(value: Any, counts: Mapping[str, int]) -> str | None:
    """The cell of ``value`` among :func:`category_bins` (``None`` when it is missing)."""
    if is_missing(value):
        return None
    key = category_key(value)
    return key if key in counts else pool_of(counts)


def bin_indices(edges: Sequence[float], values: np.ndarray) -> np.ndarray:
    """The bin of each value: ``i`` when ``edges[i] <= value < edges[i + 1]``; values below
    the first edge fall in the first bin, values from the last edge on in the last."""
    inner = np.asarray(edges[1:-1], dtype=np.float64)
    found: np.ndarray = np.searchsorted(inner, values, side="right")
    return found


def is_constant(edges: Sequence[float]) -> bool:
    """A feature with one value in training: its bins are "that value" and "another"."""
    return edges[0] == edges[-1]


def bin_count(edges: Sequence[float]) -> int:
    """How many cells live values of a binned feature are counted in."""
    return 2 if is_constant(edges) else len(edges) - 1


def reference_counts(edges: Sequence[float], counts: Sequence[int]) -> list[int]:
    """The reference's counts in the cells of :func:`binned_counts`."""
    return [sum(counts), 0] if is_constant(edges) else list(counts)


def live_bins(edges: Sequence[float], numbers: np.ndarray) -> np.ndarray:
    """The cell of each finite number: :func:`bin_indices`, or for a constant feature 0
    when the value is still the training one and 1 when it is not."""
    if is_constant(edges):
        found: np.ndarray = (numbers != edges[0]).astype(np.intp)
        return found
    return bin_indices(edges, numbers)


def binned_counts(edges: Sequence[float], numbers: np.ndarray) -> np.ndarray:
    """How many of the finite ``numbers`` fall in each cell (see :func:`live_bins`)."""
    found: np.ndarray = np.bincount(live_bins(edges, numbers), minlength=bin_count(edges))
    return found


def numbers_of(values: Sequence[Any]) -> np.ndarray:
    """Validated number values (floats and integers; NaN or ``None`` when missing) as
    float64, row for row: NaN for a missing value or anything that is not a number."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([v if _is_number(v) else math.nan for v in values], dtype=np.float64)


def lengths_of(values: Iterable[Any]) -> np.ndarray:
    """The length in characters of each value that is a string, row for row (NaN for the
    others): what a text feature is binned by."""
    return np.array([len(v) if isinstance(v, str) else math.nan for v in values], dtype=np.float64)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)

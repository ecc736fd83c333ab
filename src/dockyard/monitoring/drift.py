"""Drift: a window of logged values against the bundle's training reference.

Every comparison works on counts in the reference's own bins (see
:mod:`dockyard.bundle.reference`): the decile bins of a number, the length bins of a text,
the values of a category. Two numbers describe each feature:

* the **population stability index**, ``sum((q - p) * ln(q / p))`` over the bins, with
  ``p`` the training share and ``q`` the live share of each bin. A bin empty on one side
  would make it infinite, so each share is floored at :data:`PSI_EPSILON` (1e-4, i.e. one
  row in ten thousand) first; the usual reading is < 0.1 stable, 0.1-0.2 a moderate
  shift, > 0.2 a major one.
* a **p-value** of the hypothesis that the live rows come from the training distribution.

The bundle keeps counts per bin, not the training rows, so the tests are two-sample tests
on binned data, and they count the training rows as a sample too (a reference of 150 rows
is not taken for the truth):

* numbers and text lengths (ordered): the **Kolmogorov-Smirnov** statistic of the two
  binned distributions, the largest gap between their cumulative shares at the bin edges,
  with the two-sample KS distribution for ``n * N / (n + N)`` rows. Binning can only hide
  a gap, never make one, so the test keeps its level (it is conservative): a sample from
  the training distribution gives a p-value that is small only by chance (p < 0.01 in at
  most 1 % of windows), while a shift of the mean moves whole deciles and gives a tiny
  one. A KS test against a CDF interpolated between the deciles would not: its own
  interpolation error is a gap that a window of 1000 rows already calls significant.
* categories (unordered): **chi-squared** homogeneity of the 2 x k table of training and
  live counts (``scipy.stats.chi2_contingency``). Live values the reference never saw are
  pooled into one :data:`UNSEEN` cell (into ``(other)`` when the reference folded rare
  values there, since they may be among them); cells expected to hold fewer than five
  rows are pooled, as the chi-squared approximation needs.

A feature drifts when its PSI exceeds ``Thresholds.psi`` or its p-value falls below
``Thresholds.p_value``; fewer than ``Thresholds.min_rows`` live values is "not enough
data", never drift. scipy is imported here only: the server never imports this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from scipy import stats

from dockyard.bundle.bins import (
    PSI_EPSILON,
    UNSEEN,
    binned_counts,
    category_bins,
    folded_key,
    is_constant,
    lengths_of,
    psi,
    reference_counts,
    shares,
)
from dockyard.bundle.metadata import BinnedReference, DistributionReference
from dockyard.bundle.reference import finite_numbers

__all__ = [
    "PSI_EPSILON",
    "UNSEEN",
    "Comparison",
    "Thresholds",
    "Verdict",
    "binned_ks",
    "chi2_homogeneity",
    "compare",
    "psi",
]

_MIN_EXPECTED: Final = 5.0

Verdict = Literal["ok", "drift", "not enough data"]
Test = Literal["ks", "chi2"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the monitor calls a feature drifted (``dockyard monitor --psi/--p-value/--min-rows``)."""

    psi: float = 0.2
    """PSI above this is drift."""
    p_value: float = 0.01
    """A test's p-value below this is drift."""
    min_rows: int = 100
    """Fewer live values than this is "not enough data": the statistics are too noisy."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """One feature (or the predictions): live counts against the reference's."""

    kind: str
    """``number``, ``text`` or ``category`` (the reference's kind)."""
    n: int
    """Live values compared (missing ones and, for numbers, non-numbers left out)."""
    psi: float | None
    test: Test
    statistic: float | None
    p_value: float | None
    verdict: Verdict
    bins: list[str]
    """The label of each bin: ``[a, b)`` ranges, or category values."""
    reference_counts: list[int]
    live_counts: list[int]

    @property
    def drift(self) -> bool:
        return self.verdict == "drift"


def binned_ks(reference: Sequence[int], live: Sequence[int]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value on counts in ordered bins."""
    big_n, n = float(np.sum(reference)), float(np.sum(live))
    gap = np.abs(np.cumsum(shares(reference)) - np.cumsum(shares(live)))
    statistic = float(gap[:-1].max()) if len(gap) > 1 else 0.0
    effective = max(1, round(n * big_n / (n + big_n)))
    return statistic, float(stats.kstwo.sf(statistic, effective))


def chi2_homogeneity(reference: Sequence[int], live: Sequence[int]) -> tuple[float, float]:
    """Chi-squared statistic and p-value of "the same distribution" for two rows of counts
    over the same categories; cells expected to hold fewer than five live rows are pooled."""
    table = np.array([reference, live], dtype=np.float64)
    table = table[:, table.sum(axis=0) > 0]
    expected = table.sum(axis=0) * table[1].sum() / table.sum()
    small = expected < _MIN_EXPECTED
    if small.sum() > 1:
        pooled = table[:, small].sum(axis=1, keepdims=True)
        table = np.hstack([table[:, ~small], pooled])
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def compare(
    reference: DistributionReference, values: Sequence[Any], thresholds: Thresholds
) -> Comparison:
    """Live ``values`` (as logged: numbers, strings, booleans, ``None``) against a reference."""
    if isinstance(reference, BinnedReference):
        bins, expected, observed = _binned(reference, values)
        test: Test = "ks"
    else:
        bins, expected, observed = _categories(reference.counts, values)
        test = "chi2"
    n = sum(observed)
    if n == 0 or sum(expected) == 0:
        return Comparison(
            reference.kind, n, None, test, None, None, "not enough data", bins, expected, observed
        )
    statistic, p_value = (binned_ks if test == "ks" else chi2_homogeneity)(expected, observed)
    index = psi(expected, observed)
    verdict: Verdict
    if n < thresholds.min_rows:
        verdict = "not enough data"
    elif index > thresholds.psi or p_value < thresholds.p_value:
        verdict = "drift"
    else:
        verdict = "ok"
    return Comparison(
        reference.kind, n, index, test, statistic, p_value, verdict, bins, expected, observed
    )


def _binned(
    reference: BinnedReference, values: Sequence[Any]
) -> tuple[list[str], list[int], list[int]]:
    if reference.kind == "text":
        values = lengths_of(values).tolist()
    numbers = finite_numbers(values)
    edges = reference.edges
    expected = reference_counts(edges, reference.counts)
    observed = [int(c) for c in binned_counts(edges, numbers)]
    if is_constant(edges):
        # Constant in training: one bin, so ask only whether the value is still that one.
        return [f"= {edges[0]:g}", f"!= {edges[0]:g}"], expected, observed
    # The outer bins are open-ended: they also hold values beyond the training range.
    labels = [f"[{a:g}, {b:g})" for a, b in itertools.pairwise(edges)]
    labels[0] = f"< {edges[1]:g}"
    labels[-1] = f">= {edges[-2]:g}"
    return labels, expected, observed


def _categories(
    counts: dict[str, int], values: Sequence[Any]
) -> tuple[list[str], list[int], list[int]]:
    live = dict.fromkeys(category_bins(counts), 0)
    for value in values:
        key = folded_key(value, counts)
        if key is not None:
            live[key] += 1
    # The pool is shown only when a live value fell in it (it is empty in the reference).
    bins = [b for b in live if b in counts or live[b]]
    return bins, [counts.get(b, 0) for b in bins], [live[b] for b in bins]

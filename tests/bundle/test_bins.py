"""The binning the reference, the monitor and the server's gauges share."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from dockyard.bundle import reference
from dockyard.bundle.bins import (
    OTHER,
    PSI_EPSILON,
    UNSEEN,
    bin_indices,
    binned_counts,
    category_bins,
    category_key,
    folded_key,
    lengths_of,
    numbers_of,
    psi,
    reference_counts,
)
from dockyard.monitoring import drift


def test_the_reference_and_the_monitor_use_these_definitions() -> None:
    # Moved here, not copied: one definition for the three of them.
    assert reference.bin_indices is bin_indices
    assert reference.category_key is category_key
    assert reference.OTHER == OTHER
    assert drift.psi is psi
    assert drift.PSI_EPSILON == PSI_EPSILON == 1e-4
    assert drift.UNSEEN == UNSEEN


def test_psi_of_known_shares_and_an_empty_bin() -> None:
    assert psi([50, 50], [70, 30]) == pytest.approx(0.2 * math.log(1.4) + 0.2 * math.log(5 / 3))
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected)
    # An empty pool cell on both sides adds nothing.
    assert psi([10, 20, 0], [20, 40, 0]) == 0.0


def test_category_keys_fold_unseen_values_into_the_pool() -> None:
    counts = {"a": 5, "b": 3}
    assert category_bins(counts) == ["a", "b", UNSEEN]
    assert [folded_key(v, counts) for v in ["a", "z", None, math.nan]] == ["a", UNSEEN, None, None]
    folded = {"a": 5, OTHER: 2}
    assert category_bins(folded) == ["a", OTHER]
    assert folded_key("z", folded) == OTHER
    assert [category_key(v) for v in [True, np.bool_(False), np.int64(3), "x"]] == [
        "true",
        "false",
        "3",
        "x",
    ]


def test_a_constant_feature_has_two_cells() -> None:
    edges = [3.0, 3.0]
    assert binned_counts(edges, np.array([3.0, 3.0, 4.0])).tolist() == [2, 1]
    assert reference_counts(edges, [500]) == [500, 0]
    edges = [0.0, 1.0, 2.0]
    assert binned_counts(edges, np.array([-1.0, 0.5, 1.0, 9.0])).tolist() == [2, 2]
    assert reference_counts(edges, [4, 6]) == [4, 6]


def test_numbers_and_lengths_row_for_row() -> None:
    assert numbers_of([1, 2.5, None]).tolist()[:2] == [1.0, 2.5]
    assert math.isnan(numbers_of([1, 2.5, None])[2])
    found = numbers_of([1.0, "x", True, None])
    assert found[0] == 1.0
    assert np.isnan(found[1:]).all()
    lengths = lengths_of(["ab", None, "", "abcd"])
    assert lengths[[0, 2, 3]].tolist() == [2.0, 0.0, 4.0]
    assert math.isnan(lengths[1])


def test_bins_imports_neither_pandas_nor_scipy() -> None:
    # The server bins live values with it; the slim serving image has neither.
    code = (
        "import sys\n"
        "import dockyard.bundle.bins\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'pandas', 'sklearn')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

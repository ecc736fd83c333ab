"""Drift statistics against a training reference, for each kind of feature."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from dockyard.bundle.metadata import CategoryReference
from dockyard.bundle.reference import categories, numbers, text_lengths
from dockyard.monitoring.drift import (
    PSI_EPSILON,
    UNSEEN,
    Thresholds,
    binned_ks,
    chi2_homogeneity,
    compare,
    psi,
)

DEFAULT = Thresholds()


def _normal(rows: int, seed: int, mean: float = 0.0) -> list[float]:
    values: list[float] = np.random.default_rng(seed).normal(mean, 1.0, rows).tolist()
    return values


def test_psi_of_known_shares() -> None:
    # (0.7 - 0.5) ln(0.7 / 0.5) + (0.3 - 0.5) ln(0.3 / 0.5)
    assert psi([50, 50], [70, 30]) == pytest.approx(0.2 * math.log(1.4) + 0.2 * math.log(5 / 3))
    assert psi([50, 50], [70, 30]) == pytest.approx(0.16946, abs=1e-5)
    assert psi([10, 20, 30], [20, 40, 60]) == 0.0


def test_psi_floors_an_empty_bin_at_epsilon() -> None:
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected)
    assert math.isfinite(psi([0, 100], [100, 0]))


def test_binned_ks_gap_and_sample_sizes() -> None:
    statistic, p_same = binned_ks([100, 100, 100, 100], [25, 25, 25, 25])
    assert statistic == 0.0
    assert p_same == 1.0
    statistic, p_shifted = binned_ks([100, 100, 100, 100], [0, 0, 50, 50])
    assert statistic == pytest.approx(0.5)
    assert p_shifted < 1e-6


def test_a_number_from_the_training_distribution_does_not_drift() -> None:
    reference = numbers(_normal(10_000, seed=0))
    found = compare(reference, _normal(1000, seed=1), DEFAULT)
    assert found.verdict == "ok"
    assert found.test == "ks"
    assert found.n == 1000
    assert found.p_value is not None
    assert found.p_value > 0.05
    assert found.psi is not None
    assert found.psi < 0.05


def test_a_shifted_mean_drifts() -> None:
    reference = numbers(_normal(10_000, seed=0))
    found = compare(reference, _normal(1000, seed=1, mean=0.75), DEFAULT)
    assert found.verdict == "drift"
    assert found.drift
    assert found.p_value is not None
    assert found.p_value < 1e-10
    assert found.psi is not None
    assert found.psi > 0.2


def test_p_values_keep_their_level_without_drift() -> None:
    """Under no drift, p < 0.01 in about 1 % of windows or fewer (the test is conservative),
    even with a reference of only 500 rows: it is counted as a sample too."""
    reference = numbers(_normal(500, seed=0))
    ps = [compare(reference, _normal(1000, seed=s), DEFAULT).p_value for s in range(1, 301)]
    assert all(p is not None for p in ps)
    assert sum(p < 0.01 for p in ps if p is not None) <= 9  # 3 % of 300


def test_a_small_shift_in_a_large_window_is_found_by_the_test_not_the_psi() -> None:
    reference = numbers(_normal(20_000, seed=0))
    found = compare(reference, _normal(5000, seed=1, mean=0.15), DEFAULT)
    assert found.psi is not None
    assert found.psi < 0.2
    assert found.p_value is not None
    assert found.p_value < 0.01
    assert found.verdict == "drift"


def test_values_beyond_the_training_range_count_in_the_outer_bins() -> None:
    reference = numbers(list(range(100)))
    found = compare(reference, [-1000.0] * 100 + [1000.0] * 100, DEFAULT)
    assert found.live_counts[0] == 100
    assert found.live_counts[-1] == 100
    assert found.bins[0].startswith("<")
    assert found.drift


def test_missing_and_non_numbers_are_left_out() -> None:
    reference = numbers(_normal(1000, seed=0))
    found = compare(reference, [*_normal(150, seed=1), None, float("nan"), "x"], DEFAULT)
    assert found.n == 150


def test_a_constant_feature_drifts_when_its_value_changes() -> None:
    reference = numbers([3.0] * 500)
    same = compare(reference, [3] * 200, DEFAULT)
    assert same.verdict == "ok"
    assert same.psi == 0.0
    changed = compare(reference, [3] * 100 + [4] * 100, DEFAULT)
    assert changed.bins == ["= 3", "!= 3"]
    assert changed.live_counts == [100, 100]
    assert changed.verdict == "drift"


def test_too_few_rows_is_not_drift() -> None:
    reference = numbers(_normal(10_000, seed=0))
    found = compare(reference, _normal(50, seed=1, mean=3.0), DEFAULT)
    assert found.verdict == "not enough data"
    assert not found.drift
    assert found.psi is not None  # still shown
    nothing = compare(reference, [], DEFAULT)
    assert nothing.n == 0
    assert nothing.psi is None
    assert nothing.p_value is None
    assert nothing.verdict == "not enough data"


def test_thresholds_decide() -> None:
    reference = numbers(_normal(10_000, seed=0))
    live = _normal(1000, seed=1, mean=0.2)
    strict = compare(reference, live, Thresholds(psi=0.01, p_value=1e-300))
    lenient = compare(reference, live, Thresholds(psi=10.0, p_value=1e-300))
    assert strict.verdict == "drift"
    assert lenient.verdict == "ok"


def _draw(shares: dict[str, float], rows: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    drawn: list[str] = rng.choice(list(shares), size=rows, p=list(shares.values())).tolist()
    return drawn


PLANS = {"basic": 0.5, "plus": 0.3, "pro": 0.2}


def test_a_category_from_the_training_distribution_does_not_drift() -> None:
    reference = categories(_draw(PLANS, 5000, seed=0))
    found = compare(reference, _draw(PLANS, 1000, seed=1), DEFAULT)
    assert found.test == "chi2"
    assert found.verdict == "ok"
    assert found.p_value is not None
    assert found.p_value > 0.05
    assert found.bins == ["basic", "plus", "pro"]


def test_a_category_whose_mix_changes_drifts() -> None:
    reference = categories(_draw(PLANS, 5000, seed=0))
    found = compare(reference, _draw({"basic": 0.2, "plus": 0.3, "pro": 0.5}, 1000, 1), DEFAULT)
    assert found.verdict == "drift"
    assert found.p_value is not None
    assert found.p_value < 1e-10


def test_unseen_categories_are_pooled() -> None:
    reference = categories(_draw(PLANS, 5000, seed=0))
    live = _draw(PLANS, 900, seed=1) + ["gold"] * 60 + ["platinum"] * 40
    found = compare(reference, live, DEFAULT)
    assert found.bins == ["basic", "plus", "pro", UNSEEN]
    assert found.reference_counts[-1] == 0
    assert found.live_counts[-1] == 100
    assert found.verdict == "drift"


def test_unseen_values_join_other_when_the_reference_folded_rare_ones() -> None:
    reference = CategoryReference(kind="category", counts={"a": 600, "b": 300, "(other)": 100})
    found = compare(reference, ["a"] * 60 + ["b"] * 30 + ["zzz"] * 10, DEFAULT)
    assert found.bins == ["a", "b", "(other)"]
    assert found.live_counts == [60, 30, 10]


def test_rare_cells_are_pooled_for_chi_squared() -> None:
    counts: dict[str, Any] = {f"c{i}": 2 for i in range(40)} | {"big": 920}
    reference = CategoryReference(kind="category", counts=counts)
    live = ["big"] * 920 + [f"c{i}" for i in range(40) for _ in range(2)]
    statistic, p_value = chi2_homogeneity(list(counts.values()), [2] * 40 + [920])
    assert statistic == pytest.approx(0.0)
    assert p_value == pytest.approx(1.0)
    assert compare(reference, live, DEFAULT).verdict == "ok"


def test_booleans_compare_as_json_spells_them() -> None:
    reference = categories([True] * 700 + [False] * 300, known=[False, True])
    assert compare(reference, [True] * 140 + [False] * 60, DEFAULT).verdict == "ok"
    flipped = compare(reference, [True] * 60 + [False] * 140, DEFAULT)
    assert flipped.bins == ["true", "false"]
    assert flipped.live_counts == [60, 140]
    assert flipped.verdict == "drift"


def _texts(rows: int, seed: int, words: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(["word"] * int(rng.integers(1, words))) for _ in range(rows)]


def test_text_compares_by_length() -> None:
    reference = numbers(text_lengths(_texts(2000, seed=0, words=30)), kind="text")
    same = compare(reference, _texts(500, seed=1, words=30), DEFAULT)
    assert same.kind == "text"
    assert same.verdict == "ok"
    longer = compare(reference, _texts(500, seed=1, words=90), DEFAULT)
    assert longer.verdict == "drift"
    assert longer.n == 500

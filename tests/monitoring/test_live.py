"""Live metrics from (prediction, truth) pairs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, r2_score

from dockyard.monitoring.live import live_metrics


def test_classifier_accuracy_and_macro_f1() -> None:
    predicted = ["a", "a", "b", "b", "c", "a"]
    truth = ["a", "b", "b", "b", "c", "c"]
    found = live_metrics("classification", list(zip(predicted, truth, strict=True)))
    assert found is not None
    assert found.rows == 6
    assert found.metrics["accuracy"] == pytest.approx(4 / 6)
    assert found.metrics["f1_macro"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert found.counts == {"a": 1, "b": 3, "c": 2}


def test_labels_compare_as_json_spells_them() -> None:
    # Feedback may send 1 for a label logged as "1", or true for True.
    found = live_metrics("classification", [(1, "1"), ("2", 2), (True, "true"), (False, True)])
    assert found is not None
    assert found.metrics["accuracy"] == pytest.approx(0.75)


def test_a_class_never_predicted_counts_as_zero_f1_without_a_warning() -> None:
    found = live_metrics("classification", [("a", "a"), ("a", "b")])
    assert found is not None
    assert found.metrics["f1_macro"] == pytest.approx((2 / 3 + 0) / 2)


def test_regressor_mae_and_r2() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(10, 3, 200)
    predicted = truth + rng.normal(0, 1, 200)
    found = live_metrics("regression", list(zip(predicted.tolist(), truth.tolist(), strict=True)))
    assert found is not None
    assert found.rows == 200
    assert found.metrics["mae"] == pytest.approx(mean_absolute_error(truth, predicted))
    assert found.metrics["r2"] == pytest.approx(r2_score(truth, predicted))


def test_regressor_pairs_that_are_not_numbers_are_skipped() -> None:
    found = live_metrics("regression", [(1.0, 2.0), (3.0, "4.5"), ("x", 1.0), (2.0, None)])
    assert found is not None
    assert found.rows == 2
    assert found.skipped == 2
    assert found.metrics["mae"] == pytest.approx(1.25)


def test_r2_is_undefined_for_one_row_or_a_constant_truth() -> None:
    one = live_metrics("regression", [(1.0, 2.0)])
    assert one is not None
    assert one.metrics == {"mae": 1.0, "r2": None}
    constant = live_metrics("regression", [(1.0, 2.0), (3.0, 2.0)])
    assert constant is not None
    assert constant.metrics["r2"] is None


def test_no_feedback_or_no_truth_gives_none() -> None:
    assert live_metrics("classification", []) is None
    assert live_metrics("regression", []) is None
    assert live_metrics("clustering", [(0, 1)]) is None
    assert live_metrics("outlier_detection", [("inlier", "outlier")]) is None

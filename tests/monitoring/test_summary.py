from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from dockyard.bundle import bins
from dockyard.errors import BadRequest
from dockyard.monitoring import summary
from dockyard.monitoring.summary import Tally


@dataclass(frozen=True, slots=True)
class Row:
    time: float
    prediction: Any = None
    inputs: dict[str, Any] | None = None
    latency_ms: float = 1.0
    row: int = 0


def test_psi_by_hand() -> None:
    # shares .5/.5 against .25/.75: -.25 ln(.5) + .25 ln(1.5)
    assert summary.psi([50, 50], [25, 75]) == pytest.approx(
        0.25 * math.log(2) + 0.25 * math.log(1.5)
    )
    assert summary.psi([10, 20], [1, 2]) == pytest.approx(0.0)


def test_psi_takes_an_empty_bin_as_one_in_ten_thousand() -> None:
    expected = (0.5 - 1) * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert summary.psi([100, 0], [50, 50]) == pytest.approx(expected)
    assert bins.PSI_EPSILON == 1e-4  # the page, the monitor and the gauges share it


def test_psi_of_nothing_is_none() -> None:
    assert summary.psi([1, 2], [0, 0]) is None
    assert summary.psi([0, 0], [1, 2]) is None


def test_numbers_count_in_the_reference_edges_with_open_ends() -> None:
    spec = {"kind": "number", "edges": [0, 1, 2, 3], "counts": [1, 2, 3]}
    values = [-5, 0, 0.5, 1, 2.5, 3, 99, None, float("nan"), True, "x"]
    h = summary.histogram(spec, values)
    assert h.live == (3, 1, 3)
    assert h.reference == (1, 2, 3)
    assert h.missing == 4
    assert h.labels == ("0 to 1", "1 to 2", "2 to 3")


def test_text_counts_by_length() -> None:
    spec = {"kind": "text", "edges": [0, 5, 10], "counts": [2, 2]}
    h = summary.histogram(spec, ["abc", "abcdefgh", "", None, 12])
    assert (h.live, h.missing) == ((2, 1), 2)


def test_unknown_categories_count_as_other() -> None:
    h = summary.histogram(
        {"kind": "category", "counts": {"a": 3, "b": 1}}, ["a", "a", "c", None, True]
    )
    assert h.labels == ("a", "b", "(other)")
    assert h.reference == (3, 1, 0)
    assert h.live == (2, 0, 2)
    assert h.missing == 1
    folded = summary.histogram({"kind": "category", "counts": {"a": 1, "(other)": 1}}, ["z"])
    assert (folded.labels, folded.live) == (("a", "(other)"), (0, 1))


def test_booleans_match_the_reference_spelling() -> None:
    h = summary.histogram(
        {"kind": "category", "counts": {"true": 1, "false": 1}}, [True, False, True]
    )
    assert h.live == (2, 1)


def test_feature_histograms_read_logged_inputs_and_skip_rows_without_them() -> None:
    reference = {
        "features": {"x": {"kind": "number", "edges": [0, 10, 20], "counts": [5, 5]}},
        "prediction": {"kind": "category", "counts": {"a": 5, "b": 5}},
    }
    rows = [Row(0, "a", {"x": 15}), Row(0, "a", {"x": 3}), Row(0, "b", None)]
    assert summary.feature_histograms(reference, rows)["x"].live == (1, 1)
    assert summary.prediction_histogram(reference, rows).live == (2, 1)


def test_buckets_fit_the_window() -> None:
    day = summary.buckets(36_100.0, 36_100.0 + 86_400)
    assert (day.step, day.start, len(day.starts)) == (3600, 36_000, 25)
    half_hour = summary.buckets(0.0, 1800.0)
    assert (half_hour.step, len(half_hour.starts)) == (300, 6)
    week = summary.buckets(0.0, 7 * 86_400.0)
    assert (week.step, len(week.starts)) == (86_400, 7)


def test_prediction_mix_per_bucket() -> None:
    spans = summary.buckets(0.0, 1800.0)  # six 5-minute buckets
    rows = [Row(10, "a"), Row(20, "b"), Row(400, "a"), Row(1799, "c")]
    mix = summary.prediction_mix(rows, spans, ["a", "b"])
    assert mix[0] == {"a": 1, "b": 1}
    assert mix[1] == {"a": 1, "b": 0}
    assert mix[5] == {"a": 0, "b": 0, "c": 1}
    assert summary.mean_prediction([Row(10, 2.0), Row(20, 4.0)], spans)[:2] == [3.0, None]


def test_latency_percentiles_take_one_value_per_request() -> None:
    rows = [Row(0, latency_ms=float(ms)) for ms in range(1, 101)]
    rows.append(Row(0, latency_ms=10_000.0, row=1))  # a second row of a request
    assert summary.latency_percentiles(rows) == pytest.approx(
        {"p50": 50.5, "p95": 95.05, "p99": 99.01}
    )
    assert summary.latency_percentiles([]) is None


def test_accuracy_per_bucket_from_pairs_since_each_start() -> None:
    since_first = [("a", "a"), ("a", "b"), ("b", "b"), ("a", "a")]
    since_second = [("b", "b"), ("a", "a")]
    cumulative = [summary.tally(since_first, False), summary.tally(since_second, False)]
    per_bucket = summary.bucket_tallies(cumulative)
    assert per_bucket == [Tally(2, 1.0), Tally(2, 2.0)]
    assert [t.mean for t in per_bucket] == [0.5, 1.0]
    assert summary.bucket_tallies([Tally(1, 1.0), Tally(3, 2.0)])[0] == Tally(0, 0.0)


def test_mean_absolute_error_per_bucket() -> None:
    cumulative = [summary.tally([(1.0, 2.0), (3.0, 6.0)], True), summary.tally([(3.0, 6.0)], True)]
    assert [t.mean for t in summary.bucket_tallies(cumulative)] == [1.0, 3.0]


def test_classification_scores_by_hand() -> None:
    # a: tp 1, fp 1, fn 0 -> F1 2/3; b: tp 2, fp 0, fn 1 -> F1 4/5
    scores = summary.classification_scores([("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")])
    assert scores == pytest.approx({"accuracy": 0.75, "macro_f1": (2 / 3 + 4 / 5) / 2})
    assert summary.classification_scores([]) is None


def test_regression_scores_by_hand() -> None:
    # errors 1, 0, 1; truth mean 3, spread 2, squared error 2 -> R² 0
    assert summary.regression_scores([(1, 2), (3, 3), (5, 4)]) == pytest.approx(
        {"mae": 2 / 3, "r2": 0.0}
    )
    assert summary.regression_scores([(1.0, 2.0)]) == {"mae": 1.0}


def test_labels_match_as_text_or_equal_numbers() -> None:
    assert summary.same_label(2.0, 2)
    assert summary.same_label(True, "true")
    assert not summary.same_label(True, 1)
    assert not summary.same_label("setosa", "virginica")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86_400), ("7d", 604_800), ("2w", 1_209_600), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: float) -> None:
    # The page and `dockyard monitor --since` read a window alike (duration_seconds).
    assert summary.parse_duration(text) == seconds
    assert summary.duration_seconds(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "24", "0h", "0.0h", "-1h", "91d", "24 hours", "1.5.h", "9" * 100 + "h"]
)
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="'since' must be a duration"):
        summary.parse_duration(text)

"""The monitor's report: a logged window of the churn model against its bundle."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from dockyard.bundle import read_metadata
from dockyard.bundle.metadata import BundleMetadata
from dockyard.errors import UsageError
from dockyard.monitoring.drift import Thresholds
from dockyard.monitoring.report import PREDICTION, MonitorReport, build_report, require_reference
from tests.monitoring.logs import MemoryLog, churn_traffic

NOW = 1_800_000_000.0
DAY = 86_400.0


def _report(bundle: Path, log: MemoryLog) -> MonitorReport:
    metadata = read_metadata(bundle)
    return build_report(
        metadata,
        require_reference(metadata, str(bundle)),
        log,
        since=NOW - DAY,
        until=NOW,
        thresholds=Thresholds(),
    )


def _log(bundle: Path, *, drifted: bool, feedback: bool = True) -> MemoryLog:
    log = MemoryLog()
    records, predictions, truth = churn_traffic(bundle, 400, seed=7, drifted=drifted)
    log.add("churn", records, predictions, at=NOW - 3600, truths=truth if feedback else None)
    return log


def test_undrifted_traffic_is_ok(churn_bundle: Path) -> None:
    report = _report(churn_bundle, _log(churn_bundle, drifted=False))
    assert report.drifted == []
    assert {name: c.verdict for name, c in report.features.items()} == dict.fromkeys(
        ["plan", "region", "tenure_months", "monthly_spend"], "ok"
    )
    assert report.prediction.verdict == "ok"
    assert report.window.rows == 400


def test_drifted_features_and_predictions_are_named(churn_bundle: Path) -> None:
    report = _report(churn_bundle, _log(churn_bundle, drifted=True))
    assert report.drifted == ["plan", "monthly_spend", PREDICTION]
    assert report.features["region"].verdict == "ok"
    assert report.features["tenure_months"].verdict == "ok"


def test_live_metrics_beside_the_trained_ones(churn_bundle: Path) -> None:
    report = _report(churn_bundle, _log(churn_bundle, drifted=False))
    assert report.live is not None
    assert report.live.rows == 400
    doc = report.to_json()
    assert set(doc["live"]["metrics"]) == {"accuracy", "f1_macro"}
    assert doc["live"]["trained"] == read_metadata(churn_bundle).evaluation.metrics
    assert 0.5 < doc["live"]["metrics"]["accuracy"] <= 1.0


def test_without_feedback_live_is_null(churn_bundle: Path) -> None:
    report = _report(churn_bundle, _log(churn_bundle, drifted=False, feedback=False))
    assert report.live is None
    assert report.to_json()["live"] is None


def test_json_document(churn_bundle: Path) -> None:
    doc = _report(churn_bundle, _log(churn_bundle, drifted=True)).to_json()
    json.dumps(doc)  # plain JSON types only
    assert doc["model"] == "churn"
    assert doc["version"] == "1.0.0"
    assert doc["drift"] is True
    assert doc["window"]["rows"] == 400
    assert doc["window"]["since"] == "2027-01-14T08:00:00Z"
    spend = doc["features"]["monthly_spend"]
    assert spend["test"] == "ks"
    assert spend["drift"] is True
    assert spend["n"] == 400
    assert spend["psi"] > 0.2
    assert spend["p_value"] < 0.01
    assert sum(spend["live"]) == 400
    assert doc["features"]["plan"]["test"] == "chi2"
    assert doc["prediction"]["drift"] is True
    assert doc["thresholds"] == {"psi": 0.2, "p_value": 0.01, "min_rows": 100}


def test_rows_of_other_versions_are_left_out(churn_bundle: Path) -> None:
    log = _log(churn_bundle, drifted=False)
    records, predictions, _ = churn_traffic(churn_bundle, 50, seed=8, drifted=True)
    log.add("churn", records, predictions, version="2.0.0", at=NOW - 60)
    report = _report(churn_bundle, log)
    assert report.window.rows == 400
    assert report.window.other_versions == {"2.0.0": 50}
    assert report.drifted == []


def test_rows_outside_the_window_are_left_out(churn_bundle: Path) -> None:
    log = _log(churn_bundle, drifted=False)
    records, predictions, _ = churn_traffic(churn_bundle, 300, seed=8, drifted=True)
    log.add("churn", records, predictions, at=NOW - 2 * DAY)
    assert _report(churn_bundle, log).drifted == []


def test_rows_without_inputs_still_compare_predictions(churn_bundle: Path) -> None:
    log = MemoryLog()
    _, predictions, _ = churn_traffic(churn_bundle, 300, seed=8, drifted=True)
    log.add("churn", None, predictions, at=NOW - 60)
    report = _report(churn_bundle, log)
    assert report.window.without_inputs == 300
    assert report.features["plan"].verdict == "not enough data"
    assert report.drifted == [PREDICTION]


def test_the_table_shows_every_feature_and_the_verdicts(churn_bundle: Path) -> None:
    report = _report(churn_bundle, _log(churn_bundle, drifted=True))
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(report.render())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for column in ("feature", "kind", "n", "PSI", "test", "p-value", "verdict"):
        assert column in text
    lines = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ")}
    assert "drift" in lines["monthly_spend"]
    assert " ok " in lines["region"] + " "
    assert "drift" in lines[PREDICTION]
    assert "live metrics (400 labelled rows): accuracy" in text
    assert "DRIFT in plan, monthly_spend, (prediction)" in text


def test_no_rows_names_the_model_and_the_fix(churn_bundle: Path) -> None:
    with pytest.raises(
        UsageError, match=r"no answered predictions of model 'churn'.*--prediction-log"
    ):
        _report(churn_bundle, MemoryLog())


def test_only_other_versions_is_an_error(churn_bundle: Path) -> None:
    log = MemoryLog()
    log.add("churn", [{"plan": "pro"}], ["no"], version="0.9.0", at=NOW - 60)
    with pytest.raises(UsageError, match=r"version\(s\) 0.9.0 only.*version 1.0.0"):
        _report(churn_bundle, log)


def test_a_bundle_without_reference_says_to_save_it_again(churn_bundle: Path) -> None:
    metadata: BundleMetadata = read_metadata(churn_bundle).model_copy(update={"reference": None})
    with pytest.raises(UsageError, match=r"no training reference.*Save it again"):
        require_reference(metadata, "./churn")

"""Live drift gauges: recent rows in the reference's bins, their PSI per feature and of the
predictions, over a window that ages out old rows; fed by the prediction log's writer."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.monitoring.drift import Thresholds, compare
from dockyard.monitoring.gauges import LiveDistributions
from dockyard.monitoring.log import PredictionLog
from dockyard.predictor import Predictor
from dockyard.predictor.events import AnsweredRows
from dockyard.server.app import create_app
from dockyard.server.metrics import FLUSH_SECONDS
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA, review_frame
from tests.monitoring.conftest import answered, refused
from tests.monitoring.logs import churn_traffic
from tests.processes import Server

FEATURES = ["plan", "region", "tenure_months", "monthly_spend"]


def _feed(live: LiveDistributions, predictor: Predictor, records: list[dict[str, Any]]) -> None:
    # In requests of 50 rows, taken by the writer 4 at a time.
    events = [answered(predictor, records[i : i + 50]) for i in range(0, len(records), 50)]
    for i in range(0, len(events), 4):
        live.observe(events[i : i + 4])


def test_traffic_like_training_does_not_drift(churn: Predictor, churn_bundle: Path) -> None:
    records, _, _ = churn_traffic(churn_bundle, 2000, seed=1)
    live = LiveDistributions([churn])
    _feed(live, churn, records)
    found = live.drift()["churn"]
    assert found.rows == 2000
    assert set(found.features) == set(FEATURES)
    assert all(value < 0.2 for value in found.features.values()), found.features
    assert found.prediction is not None
    assert found.prediction < 0.2


def test_a_shifted_feature_drifts_and_only_that_one(churn: Predictor, churn_bundle: Path) -> None:
    records, _, _ = churn_traffic(churn_bundle, 2000, seed=1)
    for record in records:
        record["monthly_spend"] += 30
    live = LiveDistributions([churn])
    _feed(live, churn, records)
    found = live.drift()["churn"].features
    assert found["monthly_spend"] > 0.2
    assert all(found[name] < 0.2 for name in FEATURES if name != "monthly_spend"), found


def test_the_window_ages_out_old_rows(churn: Predictor, churn_bundle: Path) -> None:
    drifted, _, _ = churn_traffic(churn_bundle, 1000, seed=2)
    for record in drifted:
        record["monthly_spend"] += 30
    steady, _, _ = churn_traffic(churn_bundle, 1000, seed=3)
    live = LiveDistributions([churn], window_rows=1000)
    _feed(live, churn, drifted)
    assert live.drift()["churn"].rows == 1000
    assert live.drift()["churn"].features["monthly_spend"] > 0.2
    _feed(live, churn, steady[:500])
    # Half of the drifted rows are still in the window.
    assert live.drift()["churn"].features["monthly_spend"] > 0.2
    _feed(live, churn, steady[500:])
    found = live.drift()["churn"]
    assert found.rows == 1000
    assert found.features["monthly_spend"] < 0.2


def test_the_window_drops_a_tenth_at_a_time(churn: Predictor, churn_bundle: Path) -> None:
    records, _, _ = churn_traffic(churn_bundle, 250, seed=4)
    live = LiveDistributions([churn], window_rows=100)
    rows = []
    for record in records:
        live.observe([answered(churn, [record])])
        rows.append(live.drift()["churn"].rows)
    assert rows[:100] == list(range(1, 101))
    # An eleventh chunk of 10 rows opens, the oldest leaves: 91 rows, then up to 100 again.
    assert rows[100:110] == list(range(91, 101))
    assert min(rows[100:]) == 91
    assert max(rows) == 100
    # One request larger than the whole window leaves its last rows in it.
    live.observe([answered(churn, records[:235])])
    assert 91 <= live.drift()["churn"].rows <= 100


def test_the_gauges_agree_with_the_monitor(churn: Predictor, churn_bundle: Path) -> None:
    """Same rows, same counts, same PSI as `dockyard monitor` (drift.compare, bins.psi)."""
    records, _, _ = churn_traffic(churn_bundle, 600, seed=5, drifted=True)
    live = LiveDistributions([churn])
    _feed(live, churn, records)
    found = live.drift()["churn"]
    reference = churn.metadata.reference
    assert reference is not None
    for name in FEATURES:
        expected = compare(reference.features[name], [r[name] for r in records], Thresholds())
        assert found.features[name] == pytest.approx(expected.psi, abs=1e-12)
    outputs = churn.predict_columns(churn.validator.records(records)).outputs
    predicted = compare(reference.prediction, outputs, Thresholds())
    assert found.prediction == pytest.approx(predicted.psi, abs=1e-12)


def test_text_lengths_missing_numbers_and_unseen_categories_agree(reviews: Predictor) -> None:
    X, _ = review_frame(60)
    records: list[dict[str, Any]] = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in X.to_dict(orient="records")
    ]
    # The lenient encoder accepts a channel it never saw: pooled with the unseen values.
    for record in records[::3]:
        record["channel"] = "kiosk"
        record["review"] += " and a much longer tail than any review in training had"
    live = LiveDistributions([reviews])
    live.observe([answered(reviews, records)])
    found = live.drift()["reviews"].features
    reference = reviews.metadata.reference
    assert reference is not None
    for name in ("review", "channel", "age"):
        expected = compare(reference.features[name], [r[name] for r in records], Thresholds())
        assert found[name] == pytest.approx(expected.psi, abs=1e-12), name
    assert found["channel"] > 0.2


def test_a_category_of_mixed_types_counts_as_the_monitor_does(churn: Predictor) -> None:
    # Values of one type are counted by value; of several, by type and value, so that True
    # (spelled "true") and 1 (spelled "1") stay apart and None stays out.
    region = ["north", None, 1, True, "south", "north", 1.0, "west"] * 25
    plans = ["basic"] * len(region)
    reference = churn.metadata.reference
    assert reference is not None
    for values in (region, plans):
        columns: list[list[Any]] = [
            values if name == "region" else [_churn_row()[name]] * len(values)
            for name in churn.feature_names
        ]
        live = LiveDistributions([churn])
        live.count([AnsweredRows(churn, columns, ["no"] * len(values))])
        expected = compare(reference.features["region"], values, Thresholds())
        found = live.drift()["churn"].features["region"]
        assert found == pytest.approx(expected.psi, abs=1e-12)


def test_rows_without_inputs_count_for_the_predictions_only(churn: Predictor) -> None:
    event = answered(churn, [_churn_row()] * 20)
    live = LiveDistributions([churn])
    live.observe([dataclasses.replace(event, columns=None)])
    found = live.drift()["churn"]
    assert found.rows == 20
    assert found.features == {}
    assert found.prediction is not None
    live.observe([event])
    assert set(live.drift()["churn"].features) == set(FEATURES)


def test_refused_requests_and_other_models_are_not_counted(
    churn: Predictor, iris: Predictor, churn_bundle: Path
) -> None:
    records, _, _ = churn_traffic(churn_bundle, 10, seed=6)
    live = LiveDistributions([churn])
    live.observe([refused(churn), answered(iris, [IRIS_SETOSA])])
    assert live.drift()["churn"].rows == 0
    assert live.drift()["churn"].features == {}
    assert live.drift()["churn"].prediction is None
    live.observe([answered(churn, records)])
    assert live.drift()["churn"].rows == 10


def test_a_model_without_a_reference_gets_no_gauges(
    churn: Predictor, caplog: pytest.LogCaptureFixture
) -> None:
    old = copy.copy(churn)
    old.metadata = churn.metadata.model_copy(update={"reference": None})
    with caplog.at_level(logging.WARNING, logger="dockyard.monitoring"):
        live = LiveDistributions([old])
    assert live.models == []
    assert live.drift() == {}
    assert [r.getMessage() for r in caplog.records if "no training reference" in r.getMessage()]
    assert len(caplog.records) == 1


def test_the_log_hands_its_writer_the_answered_rows(
    churn: Predictor, iris: Predictor, tmp_path: Path
) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    taken: list[AnsweredRows] = []
    log.on_taken = taken.extend
    log.start()
    rows = [{**_churn_row(), "tenure_months": i} for i in range(5)]
    for i, row in enumerate(rows):
        log(answered(churn, [row], request_id=f"r-{i}"))
    log(refused(churn))
    log(answered(iris, [IRIS_SETOSA]))
    assert log.close() == 0
    by_model: dict[str, list[AnsweredRows]] = {}
    for part in taken:
        by_model.setdefault(part.predictor.name, []).append(part)
    tenure = churn.feature_names.index("tenure_months")
    assert [v for p in by_model["churn"] for v in p.columns[tenure]] == list(range(5))
    assert sum(len(p.outputs) for p in by_model["churn"]) == 5
    assert [v for p in by_model["iris"] for v in p.outputs] == ["setosa"]


def test_a_failing_callback_loses_no_row(churn: Predictor, tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")

    def broken(answered: list[AnsweredRows]) -> None:
        raise RuntimeError("a bug in the gauges")

    log.on_taken = broken
    log.start()
    for i in range(3):
        log(answered(churn, [_churn_row()], request_id=f"r-{i}"))
    assert log.close() == 0
    assert log.state().written == 3


def _churn_row() -> dict[str, Any]:
    return {"plan": "basic", "region": "north", "tenure_months": 12, "monthly_spend": 48.5}


def _scrape(client: TestClient, until: str) -> str:
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        if until in text:
            break
        time.sleep(0.1)
    return text


def test_metrics_show_the_gauges_with_a_log(
    churn: Predictor, churn_bundle: Path, tmp_path: Path
) -> None:
    records, _, _ = churn_traffic(churn_bundle, 300, seed=7)
    header = ",".join(FEATURES)
    lines = [",".join(str(r[name]) for name in FEATURES) for r in records]
    settings = Settings(prediction_log=f"sqlite:///{tmp_path / 'log.db'}")
    with TestClient(create_app(settings, predictors=[churn])) as client:
        for record in records:
            assert client.post("/v1/models/churn/predict", json=record).status_code == 200
        answer = client.post(
            "/v1/models/churn/predict/csv",
            content="\n".join([header, *lines]) + "\n",
            headers={"content-type": "text/csv"},
        )
        assert answer.status_code == 200, answer.text
        text = _scrape(client, 'dockyard_drift_window_rows{model="churn"} 600.0')
    assert 'dockyard_drift_window_rows{model="churn"} 600.0' in text
    gauges = [ln for ln in text.splitlines() if ln.startswith("dockyard_feature_psi{")]
    assert sorted(ln.split('feature="')[1].split('"')[0] for ln in gauges) == sorted(FEATURES)
    assert all(float(ln.rsplit(" ", 1)[1]) < 0.2 for ln in gauges), gauges
    assert 'dockyard_prediction_psi{model="churn"}' in text
    assert "# TYPE dockyard_feature_psi gauge" in text


def test_two_workers_show_one_gauge_per_model_and_feature(
    churn_bundle: Path, tmp_path: Path
) -> None:
    records, _, _ = churn_traffic(churn_bundle, 100, seed=8)
    running = Server(
        churn_bundle, workers=2, args=("--prediction-log", f"sqlite:///{tmp_path / 'log.db'}")
    )
    try:
        running.wait_ready()
        for record in records:
            # A connection each, so that both workers get some of the traffic.
            answer = httpx.post(f"{running.url}/v1/models/churn/predict", json=record, timeout=5)
            assert answer.status_code == 200
        deadline = time.monotonic() + 10 * FLUSH_SECONDS
        while True:
            text = httpx.get(f"{running.url}/metrics", timeout=5).text
            gauges = [ln for ln in text.splitlines() if ln.startswith("dockyard_feature_psi{")]
            if len(gauges) == len(FEATURES) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        assert running.stop() == 0
    # The workers' values are aggregated (max), not listed per process.
    assert sorted(ln.split('feature="')[1].split('"')[0] for ln in gauges) == sorted(FEATURES)
    assert not [ln for ln in text.splitlines() if "psi{" in ln and "pid=" in ln]
    rows = [ln for ln in text.splitlines() if ln.startswith("dockyard_drift_window_rows{")]
    assert len(rows) == 1
    assert 0 <= float(rows[0].rsplit(" ", 1)[1]) <= len(records)


def test_no_log_no_drift_gauges(churn: Predictor) -> None:
    with TestClient(create_app(Settings(), predictors=[churn])) as client:
        client.post("/v1/models/churn/predict", json=_churn_row())
        text = client.get("/metrics").text
    assert "dockyard_requests_total" in text
    assert "psi" not in text
    assert "dockyard_drift_window_rows" not in text

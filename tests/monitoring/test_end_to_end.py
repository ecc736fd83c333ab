"""The loop closed, on SQLite and on PostgreSQL: a server logs drifted and undrifted
predictions, takes feedback by request id, and ``dockyard monitor`` finds the drifted
feature, only that one, and the live accuracy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.cli.main import main
from dockyard.errors import ExitCode
from dockyard.monitoring.store import open_store
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import churn_frame

ROWS = 300


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _records(frame: Any) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def test_drift_feedback_and_live_metrics(
    churn: Predictor, churn_bundle: Path, log_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    same, truth = churn_frame(ROWS, seed=11)
    shifted, _ = churn_frame(ROWS, seed=12)
    shifted["monthly_spend"] = (shifted["monthly_spend"] * 3).round(2)
    with TestClient(create_app(Settings(prediction_log=log_url), predictors=[churn])) as client:
        answered: list[tuple[str, Any]] = []
        for record in _records(same):
            answer = client.post("/v1/models/churn/predict", json=record)
            assert answer.status_code == 200
            answered.append((answer.headers["x-request-id"], answer.json()["predictions"][0]))
        drifted = client.post("/v1/models/churn/predict", json={"instances": _records(shifted)})
        assert drifted.status_code == 200
        # Feedback comes later in life: here, once the log has written what it queued (it
        # writes behind the answers, in batches).
        deadline = time.monotonic() + 30
        while client.get("/readyz").json()["prediction_log"]["queued"]:
            assert time.monotonic() < deadline, "the log did not write its queue"
            time.sleep(0.05)
        feedback = [
            {"request_id": request_id, "label": label}
            for (request_id, _), label in zip(answered, truth, strict=True)
        ]
        received = client.post("/v1/models/churn/feedback", json=feedback)
        assert received.status_code == 200, received.text
        assert received.json() == {"received": ROWS, "matched": ROWS}
    # Every row is in the log, as answered.
    store = open_store(log_url)
    try:
        rows = store.window("churn", 0)
        pairs = store.labelled("churn", 0)
    finally:
        store.close()
    assert len(rows) == 2 * ROWS
    logged = {(r.request_id, r.row): r for r in rows}
    for request_id, prediction in answered:
        row = logged[(request_id, 0)]
        assert row.output == prediction
        assert row.prediction == prediction["label"]
        assert row.entry == "json"
    drifted_rows = [r for r in rows if r.request_id == drifted.headers["x-request-id"]]
    assert sorted(r.row for r in drifted_rows) == list(range(ROWS))
    assert len(pairs) == ROWS
    expected_accuracy = sum(p["label"] == t for (_, p), t in zip(answered, truth, strict=True))
    # The monitor on the same log.
    code = main(["monitor", str(churn_bundle), "--log", log_url, "--since", "1h", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.DRIFT
    verdicts = {name: f["drift"] for name, f in report["features"].items()}
    assert verdicts == {
        "plan": False,
        "region": False,
        "tenure_months": False,
        "monthly_spend": True,
    }
    assert report["features"]["monthly_spend"]["psi"] > 0.2
    assert all(f["n"] == 2 * ROWS for f in report["features"].values())
    assert report["live"]["rows"] == ROWS
    assert report["live"]["metrics"]["accuracy"] == pytest.approx(expected_accuracy / ROWS)

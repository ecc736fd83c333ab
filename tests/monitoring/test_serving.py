"""A server with a prediction log: every entry point's rows in the database, the log's
state in /readyz and /metrics, a database that is down never failing a request, and no
row lost on a graceful stop under load."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.processes import Server

HEADER = ",".join(IRIS_SETOSA)
LINE = ",".join(str(v) for v in IRIS_SETOSA.values())


def _rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM predictions ORDER BY id")]


def test_every_entry_point_is_logged(iris: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    settings = Settings(prediction_log=f"sqlite:///{path}")
    v2 = {
        "inputs": [
            {"name": k, "datatype": "FP64", "shape": [1], "data": [v]}
            for k, v in IRIS_SETOSA.items()
        ]
    }
    with TestClient(create_app(settings, predictors=[iris])) as client:
        ids = {
            "json": client.post(
                "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"X-Request-ID": "mine-1"}
            ).headers["x-request-id"],
            "form": client.post(
                "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"X-Dockyard-Entry": "form"}
            ).headers["x-request-id"],
            "query": client.get("/v1/models/iris/predict", params=IRIS_SETOSA).headers[
                "x-request-id"
            ],
            "csv": client.post(
                "/v1/models/iris/predict/csv",
                content=f"{HEADER}\n{LINE}\n{LINE}\n",
                headers={"content-type": "text/csv"},
            ).headers["x-request-id"],
            "v2": client.post("/v2/models/iris/infer", json=v2).headers["x-request-id"],
        }
        refused = client.post("/v1/models/iris/predict", json={"sepal_length": "x"})
        assert refused.status_code == 422
        ready = client.get("/readyz").json()
    # Closed with the app: everything queued is written.
    rows = _rows(path)
    assert ids["json"] == "mine-1"
    by_id = {(r["request_id"], r["row"]): r for r in rows}
    for entry, request_id in ids.items():
        row = by_id[(request_id, 0)]
        assert (row["entry"], row["status"], row["model"]) == (entry, 200, "iris")
        assert row["version"] == iris.version
        assert row["bundle_sha256"] == iris.digest
        assert row["runtime"] == iris.runtime
        assert json.loads(row["inputs"]) == IRIS_SETOSA
        assert json.loads(row["prediction"]) == "setosa"
        assert json.loads(row["output"])["label"] == "setosa"
        assert row["latency_ms"] >= 0
    assert (ids["csv"], 1) in by_id  # each CSV row is a row of the log
    bad = by_id[(refused.headers["x-request-id"], 0)]
    assert (bad["status"], bad["inputs"], bad["prediction"]) == (422, None, None)
    assert len(rows) == 7
    assert ready["prediction_log"]["status"] == "ok"


def test_inputs_can_be_left_out(iris: Predictor, tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    settings = Settings(prediction_log=f"sqlite:///{path}", prediction_log_inputs=False)
    with TestClient(create_app(settings, predictors=[iris])) as client:
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
    [row] = _rows(path)
    assert row["inputs"] is None
    assert json.loads(row["prediction"]) == "setosa"


def test_a_database_that_is_down_fails_no_request(iris: Predictor) -> None:
    # Nothing listens on port 9 of 127.0.0.1 (discard): the database is down.
    down = "postgresql://dockyard:secret@127.0.0.1:9/dockyard?connect_timeout=1"
    app = create_app(Settings(prediction_log=down, graceful_timeout=0.5), predictors=[iris])
    with TestClient(app) as client:
        for _ in range(3):
            assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["prediction_log"]["status"] == "unavailable"
        assert ready.json()["prediction_log"]["queued"] == 3
        assert "secret" not in ready.text
    required = create_app(
        Settings(prediction_log=down, prediction_log_required=True, graceful_timeout=0.5),
        predictors=[iris],
    )
    with TestClient(required) as client:
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
        refused = client.get("/readyz")
        assert refused.status_code == 503
        assert "prediction log" in refused.json()["error"]
        assert "secret" not in refused.text


def test_the_log_is_counted_in_metrics(iris: Predictor, tmp_path: Path) -> None:
    settings = Settings(prediction_log=f"sqlite:///{tmp_path / 'log.db'}")
    with TestClient(create_app(settings, predictors=[iris])) as client:
        for _ in range(3):
            client.post("/v1/models/iris/predict", json=IRIS_SETOSA)
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            if "dockyard_prediction_log_written_total 3.0" in text:
                break
            time.sleep(0.1)
    assert "dockyard_prediction_log_written_total 3.0" in text
    assert "dockyard_prediction_log_dropped_total 0.0" in text


def _load(url: str, stop: threading.Event, answered: list[int], limit: int = 5_000) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(limit):
            if stop.is_set():
                return
            try:
                status = client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            answered.append(status)


@pytest.mark.slow
def test_a_graceful_stop_under_load_loses_no_row(iris_bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    server = Server(
        iris_bundle,
        workers=2,
        args=("--prediction-log", f"sqlite:///{path}"),
        drain=None,
        env={"DOCKYARD_DRAIN_SECONDS": "1", "DOCKYARD_GRACEFUL_TIMEOUT": "10"},
    )
    stop = threading.Event()
    answered: list[int] = []
    threads = [threading.Thread(target=_load, args=(server.url, stop, answered)) for _ in range(4)]
    try:
        server.wait_ready()
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(answered) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        server.stop()
    assert len(answered) >= 300
    assert set(answered) == {200}
    rows = _rows(path)
    assert len(rows) == len(answered)
    assert len({r["request_id"] for r in rows}) == len(rows)

"""``dockyard monitor``: the table, the JSON, the exit codes and the errors, in-process."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.commands.monitor import parse_duration
from dockyard.cli.main import main
from dockyard.errors import ExitCode
from tests.monitoring.logs import MemoryLog, churn_traffic

PG = "postgresql://monitor:s3cret@127.0.0.1:5432/dockyard"


def _serve_store(monkeypatch: pytest.MonkeyPatch, opener: Callable[[str], Any]) -> list[str]:
    """Stand in for ``dockyard.monitoring.store`` (the log store, built beside the monitor):
    the command imports it by name and calls ``open_store(url)``. Returns the URLs opened."""
    opened: list[str] = []

    def open_store(url: str) -> Any:
        opened.append(url)
        return opener(url)

    module = types.ModuleType("dockyard.monitoring.store")
    module.open_store = open_store  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dockyard.monitoring.store", module)
    return opened


def _churn_log(bundle: Path, *, drifted: bool, feedback: bool = True) -> MemoryLog:
    log = MemoryLog()
    records, predictions, truth = churn_traffic(bundle, 400, seed=7, drifted=drifted)
    log.add("churn", records, predictions, truths=truth if feedback else None)
    return log


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["monitor", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_no_drift_prints_the_table_and_exits_0(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _churn_log(churn_bundle, drifted=False)
    opened = _serve_store(monkeypatch, lambda url: log)
    code, out, _ = _run(capsys, str(churn_bundle), "--log", PG)
    assert code == ExitCode.OK
    assert opened == [PG]
    assert log.closed
    assert "churn 1.0.0: 400 logged rows from" in out
    for feature in ("plan", "region", "tenure_months", "monthly_spend", "(prediction)"):
        assert feature in out
    assert "live metrics (400 labelled rows): accuracy" in out
    assert "no drift" in out


def test_drift_exits_7_and_names_what_drifted(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_store(monkeypatch, lambda url: _churn_log(churn_bundle, drifted=True))
    code, out, _ = _run(capsys, str(churn_bundle), "--log", PG, "--since", "2h")
    assert code == ExitCode.DRIFT
    assert int(ExitCode.DRIFT) == 7
    assert "DRIFT in plan, monthly_spend, (prediction)" in out


def test_json_output(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_store(monkeypatch, lambda url: _churn_log(churn_bundle, drifted=True))
    code, out, _ = _run(capsys, str(churn_bundle), "--log", PG, "--json")
    assert code == ExitCode.DRIFT
    doc = json.loads(out)
    assert doc["model"] == "churn"
    assert doc["version"] == "1.0.0"
    assert doc["window"]["rows"] == 400
    assert {k: v["drift"] for k, v in doc["features"].items()} == {
        "plan": True,
        "region": False,
        "tenure_months": False,
        "monthly_spend": True,
    }
    for feature in doc["features"].values():
        assert {"psi", "p_value", "drift", "test", "n"} <= set(feature)
    assert doc["prediction"]["drift"] is True
    assert set(doc["live"]["metrics"]) == {"accuracy", "f1_macro"}


def test_json_without_feedback_has_live_null(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_store(monkeypatch, lambda url: _churn_log(churn_bundle, drifted=False, feedback=False))
    code, out, _ = _run(capsys, str(churn_bundle), "--log", PG, "--json")
    assert code == ExitCode.OK
    assert json.loads(out)["live"] is None


def test_thresholds_are_options_and_settings(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_store(monkeypatch, lambda url: _churn_log(churn_bundle, drifted=True))
    monkeypatch.setenv("DOCKYARD_PREDICTION_LOG", PG)
    monkeypatch.setenv("DOCKYARD_DRIFT_P_VALUE", "1e-300")
    code, out, _ = _run(capsys, str(churn_bundle), "--psi", "100", "--json")
    assert code == ExitCode.OK
    assert json.loads(out)["thresholds"] == {"psi": 100.0, "p_value": 1e-300, "min_rows": 100}
    code, out, _ = _run(capsys, str(churn_bundle), "--min-rows", "1000")
    assert code == ExitCode.OK
    assert "not enough data" in out


def test_the_window_is_the_last_since(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _churn_log(churn_bundle, drifted=False)  # a minute ago
    records, predictions, _ = churn_traffic(churn_bundle, 400, seed=8, drifted=True)
    log.add("churn", records, predictions, at=time.time() - 3 * 86_400)
    _serve_store(monkeypatch, lambda url: log)
    assert _run(capsys, str(churn_bundle), "--log", PG, "--since", "30m")[0] == ExitCode.OK
    assert _run(capsys, str(churn_bundle), "--log", PG, "--since", "7d")[0] == ExitCode.DRIFT


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800.0), ("24h", 86_400.0), ("7d", 604_800.0), ("1.5h", 5400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("since", ["24", "0h", "-1d", "1y", "soon"])
def test_a_bad_duration_says_what_is_expected(
    since: str, churn_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, str(churn_bundle), "--log", PG, "--since", since)
    assert code == ExitCode.USAGE
    assert "e.g. 30m, 24h or 7d" in err


def test_a_missing_sqlite_log_names_the_file_and_the_fix(
    churn_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/nothing.db"
    code, _, err = _run(capsys, str(churn_bundle), "--log", url)
    assert code == ExitCode.USAGE
    assert f"No prediction log at {tmp_path}/nothing.db" in err
    assert f"--prediction-log {url}" in err
    assert not (tmp_path / "nothing.db").exists()


def test_a_url_that_is_no_log(churn_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(churn_bundle), "--log", "mysql://x/y")
    assert code == ExitCode.USAGE
    assert "give sqlite:///PATH or postgresql://" in err


def test_a_model_the_log_never_saw(
    churn_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_store(monkeypatch, lambda url: MemoryLog())
    code, _, err = _run(capsys, str(churn_bundle), "--log", PG)
    assert code == ExitCode.USAGE
    assert "no answered predictions of model 'churn'" in err
    assert "monitor:***@127.0.0.1" in err
    assert "s3cret" not in err


def test_a_bundle_without_reference(
    churn_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = shutil.copytree(churn_bundle, tmp_path / "churn")
    doc = json.loads((copy / "bundle.json").read_text())
    del doc["reference"]
    (copy / "bundle.json").write_text(json.dumps({**doc, "schema_version": 3}))
    opened = _serve_store(monkeypatch, lambda url: MemoryLog())
    code, _, err = _run(capsys, str(copy), "--log", PG)
    assert code == ExitCode.USAGE
    assert "has no training reference" in err
    assert "Save it again from its training data" in err
    assert opened == []


# The log's tables exactly as MONITORING.md (schema version 1) defines them for SQLite.
SCHEMA = """
CREATE TABLE dockyard_schema (version INTEGER NOT NULL);
INSERT INTO dockyard_schema (version) VALUES (1);
CREATE TABLE predictions (
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, row INTEGER NOT NULL,
  time DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
  bundle_sha256 TEXT NOT NULL, runtime TEXT NOT NULL, entry TEXT NOT NULL,
  status INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
  inputs TEXT, prediction TEXT, output TEXT
);
CREATE INDEX predictions_model_time ON predictions (model, time);
CREATE INDEX predictions_request ON predictions (request_id);
CREATE TABLE feedback (
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, row INTEGER NOT NULL DEFAULT 0,
  time DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, truth TEXT NOT NULL
);
CREATE INDEX feedback_model_time ON feedback (model, time);
CREATE INDEX feedback_request ON feedback (request_id);
"""


def _logged(
    request_id: str,
    row: int,
    at: float,
    inputs: Any,
    answer: Any,
    *,
    model: str = "churn",
    entry: str = "json",
    status: int = 200,
) -> tuple[Any, ...]:
    output = None if answer is None else json.dumps({"prediction": answer})
    encoded = [None if v is None else json.dumps(v) for v in (inputs, answer)]
    return (
        request_id,
        row,
        at,
        model,
        "1.0.0",
        "ab" * 32,
        "onnx",
        entry,
        status,
        1.5,
        *encoded,
        output,
    )


def _write_log(path: Path, bundle: Path) -> None:
    """Logged requests as the server writes them: JSON requests with drifted rows ten
    minutes ago, a CSV upload of undrifted rows five minutes ago, a refused request,
    another model, and feedback on the upload."""
    now = time.time()
    good, good_answers, good_truth = churn_traffic(bundle, 300, seed=7)
    bad, bad_answers, _ = churn_traffic(bundle, 300, seed=9, drifted=True)
    rows = [
        _logged(f"json-{i}", 0, now - 600, inputs, answer)
        for i, (inputs, answer) in enumerate(zip(bad, bad_answers, strict=True))
    ]
    rows += [
        _logged("csv-1", i, now - 300, inputs, answer, entry="csv")
        for i, (inputs, answer) in enumerate(zip(good, good_answers, strict=True))
    ]
    rows.append(_logged("refused", 0, now - 60, {"plan": "gold"}, None, status=422))
    rows.append(_logged("other", 0, now - 60, {"sepal_length": 5.1}, "setosa", model="iris"))
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany(
            "INSERT INTO predictions (request_id, row, time, model, version, bundle_sha256, "
            "runtime, entry, status, latency_ms, inputs, prediction, output) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT INTO feedback (request_id, row, time, model, truth) VALUES (?, ?, ?, ?, ?)",
            [("csv-1", i, now - 30, "churn", json.dumps(t)) for i, t in enumerate(good_truth)],
        )


def test_a_real_sqlite_log_end_to_end(
    churn_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    database = tmp_path / "predictions.db"
    _write_log(database, churn_bundle)
    url = f"sqlite:///{database}"
    code, out, _ = _run(capsys, str(churn_bundle), "--log", url, "--since", "1h", "--json")
    assert code == ExitCode.DRIFT
    doc = json.loads(out)
    assert doc["window"]["rows"] == 600  # the refused request and the other model left out
    assert doc["features"]["monthly_spend"]["n"] == 600
    assert doc["features"]["monthly_spend"]["drift"] is True
    assert doc["features"]["region"]["drift"] is False
    assert doc["prediction"]["drift"] is True
    assert doc["live"]["rows"] == 300
    code, out, _ = _run(capsys, str(churn_bundle), "--log", url, "--since", "7m", "--json")
    assert code == ExitCode.OK  # only the undrifted CSV upload is in the last 7 minutes
    assert json.loads(out)["window"]["rows"] == 300

"""A small prediction-log store for tests: the MONITORING.md schema (version 1) in a SQLite
file, with the read API the server uses (window, labelled, insert_feedback). It stands in
for ``dockyard.monitoring.store`` until that is merged."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE dockyard_schema(version INTEGER NOT NULL);
INSERT INTO dockyard_schema VALUES (1);
CREATE TABLE predictions(
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, row INTEGER NOT NULL,
  time DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
  bundle_sha256 TEXT NOT NULL, runtime TEXT NOT NULL, entry TEXT NOT NULL,
  status INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
  inputs TEXT, prediction TEXT, output TEXT);
CREATE INDEX predictions_model_time ON predictions(model, time);
CREATE INDEX predictions_request ON predictions(request_id);
CREATE TABLE feedback(
  id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, row INTEGER NOT NULL DEFAULT 0,
  time DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, truth TEXT NOT NULL);
CREATE INDEX feedback_model_time ON feedback(model, time);
CREATE INDEX feedback_request ON feedback(request_id);
"""


@dataclass(frozen=True, slots=True)
class LoggedRow:
    request_id: str
    row: int
    time: float
    model: str
    version: str
    bundle_sha256: str
    runtime: str
    entry: str
    status: int
    latency_ms: float
    inputs: dict[str, Any] | None
    prediction: Any
    output: dict[str, Any] | None


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SQLiteLog:
    def __init__(self, path: Path) -> None:
        fresh = not path.exists()
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.lock = threading.Lock()
        if fresh:
            self.db.executescript(SCHEMA)

    def insert_predictions(self, rows: Sequence[LoggedRow]) -> None:
        with self.lock, self.db:
            self.db.executemany(
                "INSERT INTO predictions(request_id, row, time, model, version, bundle_sha256,"
                " runtime, entry, status, latency_ms, inputs, prediction, output)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.request_id, r.row, r.time, r.model, r.version, r.bundle_sha256,
                        r.runtime, r.entry, r.status, r.latency_ms,
                        None if r.inputs is None else json.dumps(r.inputs),
                        json.dumps(r.prediction),
                        None if r.output is None else json.dumps(r.output),
                    )
                    for r in rows
                ],
            )  # fmt: skip

    def insert_feedback(self, items: Sequence[Any]) -> int:
        with self.lock, self.db:
            self.db.executemany(
                "INSERT INTO feedback(request_id, row, time, model, truth) VALUES (?, ?, ?, ?, ?)",
                [(f.request_id, f.row, f.time, f.model, json.dumps(f.truth)) for f in items],
            )
            return sum(
                self.db.execute(
                    "SELECT COUNT(*) FROM predictions WHERE request_id = ? AND row = ?",
                    (f.request_id, f.row),
                ).fetchone()[0]
                > 0
                for f in items
            )

    def window(self, model: str, since: float, until: float | None = None) -> list[LoggedRow]:
        query = (
            "SELECT request_id, row, time, model, version, bundle_sha256, runtime, entry,"
            " status, latency_ms, inputs, prediction, output FROM predictions"
            " WHERE model = ? AND status = 200 AND time >= ? AND time <= ? ORDER BY time, id"
        )
        with self.lock:
            found = self.db.execute(query, (model, since, until or float("inf"))).fetchall()
        return [
            LoggedRow(*r[:10], _json(r[10]), _json(r[11]), _json(r[12]))  # type: ignore[arg-type]
            for r in found
        ]

    def labelled(self, model: str, since: float) -> list[tuple[Any, Any]]:
        query = (
            "SELECT p.prediction, f.truth FROM feedback f JOIN predictions p"
            " ON p.request_id = f.request_id AND p.row = f.row"
            " WHERE p.model = ? AND p.status = 200 AND p.time >= ?"
        )
        with self.lock:
            found = self.db.execute(query, (model, since)).fetchall()
        return [(_json(p), _json(t)) for p, t in found]

    def close(self) -> None:
        self.db.close()

"""What one logged prediction costs the prediction log, in CPU, without a server around it,
in the parts the log splits it into: in the server worker, building the data plane's event,
gathering it and pickling the gathered rows for the writer; in the writer process,
unpickling and encoding them, then inserting them into SQLite in the log's batches, for
SQLite page sizes of 4, 16 and 64 KiB. Rows are single-row Iris answers, as ``bench/run``
sends them. The worker's and the writer's encoding are the least of ``--repeats`` runs; the
insert is the mean of ``--repeats`` inserts of the rows into one file as it grows.

    PYTHONPATH=src:. .venv/bin/python -m bench.log_insert --rows 20000 --repeats 3
"""

from __future__ import annotations

import argparse
import pickle
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import dockyard
from bench.models import build_model, load_data
from dockyard.monitoring.migrations import MIGRATIONS, SQLITE, WIDTH
from dockyard.monitoring.parcels import Parcel
from dockyard.monitoring.rows import Gathered
from dockyard.monitoring.sqlite import PAGE_SIZE, SQLiteBackend
from dockyard.predictor.events import PredictionEvent
from dockyard.predictor.predictor import Predictor
from dockyard.server.steps import RequestIds

COLUMNS = [[5.1], [3.5], [1.4], [0.2]]
T = TypeVar("T")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def least(work: Callable[[], T], repeats: int) -> tuple[T, float]:
    """What ``work`` gives, and the least CPU seconds it took in ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = cpu_seconds()
        result = work()
        best = min(best, cpu_seconds() - start)
    return result, best


def shipped(predictor: Predictor, rows: int, repeats: int) -> tuple[bytes, float]:
    """``rows`` single-row events built, gathered and pickled as a server worker does, and
    the CPU µs each row took."""
    prediction = predictor.predict_columns(COLUMNS)
    ids = RequestIds()

    def work() -> bytes:
        gathered = Gathered(predictor)
        for _ in range(rows):
            event = PredictionEvent(
                request_id=ids.of({"headers": []}),
                entry="json",
                predictor=predictor,
                time=time.time(),
                latency=0.001,
                status=200,
                columns=COLUMNS,
                prediction=prediction,
            )
            gathered.add(event)
        return pickle.dumps(gathered.parcel, protocol=pickle.HIGHEST_PROTOCOL)

    blob, seconds = least(work, repeats)
    return blob, seconds / rows * 1e6


def encoded(blob: bytes, rows: int, repeats: int) -> tuple[list[Any], float]:
    """The rows of a pickled parcel, unpickled and encoded as the writer process does, and
    the CPU µs each row took."""

    def work() -> list[Any]:
        parcel: Parcel = pickle.loads(blob)
        values: list[Any] = []
        parcel.encode(values)
        return values

    values, seconds = least(work, repeats)
    return values, seconds / rows * 1e6


def insert_cost(values: Sequence[Any], page_size: int, batch: int, repeats: int) -> float:
    """CPU µs per row to insert ``values`` ``repeats`` times into a new log file with
    ``page_size`` pages, in transactions of ``batch`` rows."""
    with tempfile.TemporaryDirectory() as scratch:
        connection = sqlite3.connect(Path(scratch) / "log.db", isolation_level=None)
        connection.execute(f"PRAGMA page_size = {page_size}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        for statement in MIGRATIONS[0].statements(SQLITE):
            connection.execute(statement)
        backend = SQLiteBackend(Path(scratch) / "log.db")
        cursor = connection.cursor()
        step = batch * WIDTH
        start = cpu_seconds()
        for _ in range(repeats):
            for at in range(0, len(values), step):
                connection.execute("BEGIN IMMEDIATE")
                backend.insert_predictions(cursor, values[at : at + step])
                connection.execute("COMMIT")
        spent = cpu_seconds() - start
        connection.close()
    return spent / (len(values) // WIDTH * repeats) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each part")
    parser.add_argument("--batch", type=int, default=2_000, help="rows per transaction")

    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        X, y = load_data()
        model = build_model("lr").fit(X.to_numpy(), y.to_numpy())
        bundle = Path(scratch) / "iris"
        dockyard.save_bundle(model, X, y, name="iris-lr", path=bundle)
        predictor = Predictor.from_path(bundle, runtime="onnx")
    blob, worker_us = shipped(predictor, args.rows, args.repeats)
    print(f"worker: event, gathering and pickling: {worker_us:.2f} µs CPU per row")
    values, writer_us = encoded(blob, args.rows, args.repeats)
    print(f"writer: unpickling and encoding: {writer_us:.2f} µs CPU per row")
    for page_size in sorted({4096, PAGE_SIZE, 65_536}):
        cost = insert_cost(values, page_size, args.batch, args.repeats)
        mark = " (the log's)" if page_size == PAGE_SIZE else ""
        print(
            f"writer: SQLite insert, {page_size // 1024} KiB pages{mark}: {cost:.2f} µs CPU per row"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

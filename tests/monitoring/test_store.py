from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dockyard.monitoring.migrations import SCHEMA_VERSION, Dialect, Migration
from dockyard.monitoring.rows import rows_of
from dockyard.monitoring.store import (
    DatabaseUnavailable,
    Feedback,
    LoggedRow,
    PredictionLogError,
    SchemaTooNew,
    Store,
    encode,
    open_store,
)
from dockyard.predictor import Predictor
from tests.conftest import IRIS_SETOSA
from tests.monitoring.conftest import answered, refused
from tests.monitoring.writers import write
from tests.unsupervised import INLIER, OUTLIER

VERSICOLOR = {"sepal_length": 6.3, "sepal_width": 2.8, "petal_length": 4.9, "petal_width": 1.5}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = open_store(store_url)
    try:
        yield store
    finally:
        store.close()


def raw(store_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the store's database with its driver, outside the Store."""
    store = open_store(store_url)
    connection = store.backend.connect()
    try:
        cursor = connection.cursor()
        cursor.execute(store.dialect.sql(sql), params)
        found = cursor.fetchall() if cursor.description else []
        connection.commit()
        return list(found)
    finally:
        connection.close()


def row(
    request_id: str, n: int = 0, *, at: float = 1000.0, model: str = "m", status: int = 200
) -> LoggedRow:
    return LoggedRow(
        request_id, n, at, model, "1.0.0", "ab" * 32, "sklearn", "json", status, 1.5,
        {"x": n, "name": "é"}, f"label-{n}", {"label": f"label-{n}"},
    )  # fmt: skip


# -- schema ----------------------------------------------------------------------------------


def test_migrate_creates_the_schema_and_is_idempotent(store: Store, store_url: str) -> None:
    assert store.migrate() == SCHEMA_VERSION == 1
    store.insert_predictions([row("a")])
    assert store.migrate() == 1
    assert raw(store_url, "SELECT version FROM dockyard_schema") == [(1,)]
    assert [r.request_id for r in store.window("m", 0)] == ["a"]


def test_migrate_upgrades_an_older_database_in_place(store: Store, store_url: str) -> None:
    store.migrate()
    store.insert_predictions([row("a"), row("a", 1)])

    def add_comment(d: Dialect) -> list[str]:
        return [
            "ALTER TABLE predictions ADD COLUMN comment TEXT",
            "UPDATE predictions SET comment = 'old'",
        ]

    from dockyard.monitoring.migrations import MIGRATIONS

    steps = [*MIGRATIONS, Migration(2, "a comment per row", add_comment)]
    assert store.migrate(steps) == 2
    assert raw(store_url, "SELECT version FROM dockyard_schema") == [(2,)]
    assert raw(store_url, 'SELECT request_id, "row", comment FROM predictions ORDER BY "row"') == [
        ("a", 0, "old"),
        ("a", 1, "old"),
    ]
    # This Dockyard knows version 1 only: the upgraded database is refused, untouched.
    with pytest.raises(
        SchemaTooNew, match="schema version 2; this Dockyard knows versions up to 1"
    ):
        store.migrate()
    assert raw(store_url, "SELECT count(*) FROM predictions") == [(2,)]


def test_a_failed_migration_leaves_the_database_as_it_was(store: Store, store_url: str) -> None:
    store.migrate()
    from dockyard.monitoring.migrations import MIGRATIONS

    broken = Migration(2, "half done", lambda d: ["CREATE TABLE extra (x INTEGER)", "NOT SQL"])
    with pytest.raises(PredictionLogError, match="refused an operation"):
        store.migrate([*MIGRATIONS, broken])
    assert raw(store_url, "SELECT version FROM dockyard_schema") == [(1,)]
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
        raw(store_url, "SELECT * FROM extra")


def test_a_newer_database_is_refused(store: Store, store_url: str) -> None:
    store.migrate()
    raw(store_url, "UPDATE dockyard_schema SET version = 7")
    with pytest.raises(SchemaTooNew) as caught:
        store.migrate()
    assert "schema version 7" in str(caught.value)
    assert "Upgrade Dockyard" in str(caught.value)


# -- round trips per kind of model ---------------------------------------------------------


def _diabetes_records() -> list[dict[str, Any]]:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).data.head(3)
    return [{k: float(v) for k, v in r.items()} for r in frame.to_dict("records")]


@pytest.mark.parametrize(
    ("name", "records", "key"),
    [
        ("iris", [IRIS_SETOSA, VERSICOLOR], "label"),
        ("diabetes", None, "value"),
        ("segments", [INLIER, OUTLIER], "cluster"),
        ("anomalies", [INLIER, OUTLIER], "label"),
    ],
)
def test_rows_round_trip_for_each_kind_of_model(
    store: Store, request: pytest.FixtureRequest, name: str, records: Any, key: str
) -> None:
    predictor: Predictor = request.getfixturevalue(name)
    records = records or _diabetes_records()
    event = answered(predictor, records, request_id=f"req-{name}", entry="csv", first_row=10)
    store.migrate()
    store.insert_encoded(rows_of(event))
    back = store.window(predictor.name, event.time - 1)
    answers = predictor.to_json(event.prediction)  # type: ignore[arg-type]
    assert [r.row for r in back] == [10 + i for i in range(len(records))]
    assert [r.inputs for r in back] == [
        {k: pytest.approx(v) for k, v in record.items()} for record in records
    ]
    assert [r.output for r in back] == answers
    assert [r.prediction for r in back] == [a[key] for a in answers]
    first = back[0]
    assert (first.model, first.version, first.bundle_sha256, first.runtime) == (
        predictor.name,
        predictor.version,
        predictor.digest,
        predictor.runtime,
    )
    assert (first.request_id, first.entry, first.status) == (f"req-{name}", "csv", 200)
    assert first.time == event.time
    assert first.latency_ms == pytest.approx(2.5)
    if name == "anomalies":
        assert [r.prediction for r in back] == ["inlier", "outlier"]


def test_refused_requests_are_one_row_without_outputs(
    iris: Predictor, store: Store, store_url: str
) -> None:
    store.migrate()
    store.insert_encoded(rows_of(refused(iris, status=413)))
    stored = raw(store_url, 'SELECT "row", status, inputs, prediction, output FROM predictions')
    assert stored == [(0, 413, None, None, None)]
    # window() gives answered rows only.
    assert store.window("iris", 0) == []


def test_window_bounds_and_order(store: Store) -> None:
    store.migrate()
    store.insert_predictions([row("c", at=30.0), row("a", at=10.0), row("b", at=20.0)])
    store.insert_predictions([row("other", at=15.0, model="n"), row("bad", at=15.0, status=500)])
    assert [r.request_id for r in store.window("m", 10.0)] == ["a", "b", "c"]
    assert [r.request_id for r in store.window("m", 10.0, 30.0)] == ["a", "b"]
    assert [r.request_id for r in store.window("m", 11.0, 25.0)] == ["b"]


def test_a_batch_larger_than_one_statement_goes_in_whole(store: Store) -> None:
    # SQLite takes CHUNK_ROWS rows per INSERT: whole statements, then a shorter last one.
    from dockyard.monitoring.sqlite import CHUNK_ROWS

    store.migrate()
    rows = [row(f"r-{n:05d}", n, at=float(n)) for n in range(2 * CHUNK_ROWS + 7)]
    store.insert_predictions(rows)
    assert store.window("m", 0.0) == rows
    with pytest.raises(ValueError, match="not rows of 13 columns"):
        store.insert_values(["only", "three", "values"])


def test_feedback_is_paired_with_its_row(store: Store) -> None:
    store.migrate()
    store.insert_predictions([row("a", 0, at=10.0), row("a", 1, at=10.0), row("b", at=20.0)])
    matched = store.insert_feedback(
        [
            Feedback("a", 1, "m", "label-1", time=11.0),
            Feedback("a", 0, "m", "wrong", time=11.0),
            Feedback("a", 0, "m", "label-0", time=12.0),  # a correction: the latest wins
            Feedback("nobody", 0, "m", "x", time=12.0),
            Feedback("b", 0, "another-model", "x", time=12.0),
        ]
    )
    assert matched == 3
    assert store.labelled("m", 0.0) == [("label-0", "label-0"), ("label-1", "label-1")]
    assert store.labelled("m", 15.0) == []
    # Feedback may arrive before its prediction is written: it is kept, and pairs later.
    store.insert_predictions([row("nobody", at=30.0)])
    assert store.labelled("m", 25.0) == [("label-0", "x")]


def test_delete_before_removes_old_predictions_and_feedback(store: Store) -> None:
    store.migrate()
    store.insert_predictions([row("old", at=100.0), row("new", at=200.0)])
    store.insert_feedback(
        [Feedback("old", 0, "m", 1, time=100.0), Feedback("new", 0, "m", 2, time=200.0)]
    )
    assert store.delete_before(150.0) == 2
    assert [r.request_id for r in store.window("m", 0)] == ["new"]
    assert store.labelled("m", 0) == [("label-0", 2)]
    assert store.delete_before(150.0) == 0


def test_retention_deletes_a_row_written_after_younger_ones_at_a_later_round(
    store: Store,
) -> None:
    store.migrate()
    # "late" arrived with the old rows but was written after a young one (a slow request).
    store.insert_predictions([row("a", at=100.0), row("b", at=300.0), row("late", at=100.0)])
    assert store.delete_before(200.0) == 1
    assert [r.request_id for r in store.window("m", 0)] == ["late", "b"]
    store.insert_predictions([row("c", at=500.0)])
    assert store.delete_before(400.0) == 2
    assert [r.request_id for r in store.window("m", 0)] == ["c"]
    # Nothing young enough to keep: everything old goes.
    assert store.delete_before(600.0) == 1
    assert store.window("m", 0) == []


def test_retention_costs_the_rows_it_deletes_not_the_table(tmp_path: Path) -> None:
    def steps_to_delete_ten_old_rows(young: int) -> int:
        store = open_store(f"sqlite:///{tmp_path / f'{young}.db'}")
        store.migrate()
        old = [encode(row(f"old-{i}", at=100.0)) for i in range(10)]
        store.insert_encoded([*old, *(encode(row(f"y-{i}", at=900.0)) for i in range(young))])
        steps = [0]
        connect = store.backend.connect

        def counting() -> Any:
            connection = connect()

            def step() -> int:
                steps[0] += 1
                return 0

            connection.set_progress_handler(step, 100)
            return connection

        store.close()
        store.backend.connect = counting  # type: ignore[method-assign]
        assert store.delete_before(500.0) == 10
        store.close()
        return steps[0]

    small, large = steps_to_delete_ten_old_rows(1_000), steps_to_delete_ten_old_rows(30_000)
    # A scan of the table would take 30 times the steps.
    assert large < 2 * small + 50, (small, large)


# -- opening -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://u:secret@db/x", "sqlite://relative.db", "predictions.db"])
def test_open_store_refuses_other_urls(url: str) -> None:
    with pytest.raises(PredictionLogError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "sqlite:///PATH" in message
    assert "secret" not in message


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_unavailable_and_its_password_never_shown(
    postgres_url: str,
) -> None:
    url = postgres_url.replace(":55432/", ":1/")
    store = open_store(url)  # connects on first use only
    with pytest.raises(DatabaseUnavailable) as caught:
        store.migrate()
    assert "dockyard:***@127.0.0.1:1" in str(caught.value)
    assert ":dockyard@" not in str(caught.value)


def test_sqlite_uses_wal_and_waits_for_other_writers(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.migrate()
    assert raw(f"sqlite:///{tmp_path / 'log.db'}", "PRAGMA journal_mode") == [("wal",)]
    # Another process's write transaction: this one waits for it, then writes.
    other = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    import threading

    done = threading.Event()
    writer = threading.Thread(target=lambda: (store.insert_predictions([row("late")]), done.set()))
    writer.start()
    assert not done.wait(0.3)
    other.execute("COMMIT")
    writer.join(10)
    assert done.is_set()
    assert [r.request_id for r in store.window("m", 0)] == ["late"]


def test_a_new_log_waits_for_the_worker_that_is_creating_it(tmp_path: Path) -> None:
    import threading

    # The first worker holds the new file, not yet in WAL mode: SQLite refuses a second
    # connection's switch to WAL at once, without its busy timeout.
    first = sqlite3.connect(tmp_path / "log.db", isolation_level=None, check_same_thread=False)
    first.execute("CREATE TABLE creating (x)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO creating VALUES (1)")
    threading.Timer(0.3, lambda: first.execute("COMMIT")).start()
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    assert store.migrate() == SCHEMA_VERSION
    store.close()
    first.close()
    assert raw(f"sqlite:///{tmp_path / 'log.db'}", "PRAGMA journal_mode") == [("wal",)]


# -- several processes, one database ---------------------------------------------------------


def test_several_processes_write_one_database(store_url: str) -> None:
    # As a server's workers do: each migrates at start (all at once), then writes.
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=write, args=(store_url, w, 20, 10)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    found = raw(store_url, 'SELECT request_id, "row" FROM predictions')
    assert len(found) == len(set(found)) == 4 * 20 * 10
    assert raw(store_url, "SELECT version FROM dockyard_schema") == [(1,)]


def test_without_the_driver_a_postgresql_log_is_refused_with_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A slim image leaves psycopg out.
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "dockyard.monitoring.postgres", raising=False)
    with pytest.raises(PredictionLogError, match="needs psycopg") as caught:
        open_store("postgresql://dockyard:secret@127.0.0.1:5432/dockyard")
    assert "sqlite:///" in (caught.value.hint or "")


def test_a_new_sqlite_log_has_16_kib_pages(tmp_path: Path) -> None:
    # 4 KiB pages cost about a quarter more CPU per logged row (bench/log_insert.py).
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    store.migrate()
    store.close()
    with sqlite3.connect(tmp_path / "log.db") as connection:
        assert connection.execute("PRAGMA page_size").fetchone() == (16_384,)

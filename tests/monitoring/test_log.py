from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.monitoring.log import LogState, PredictionLog
from dockyard.monitoring.rows import rows_of
from dockyard.monitoring.store import LoggedRow, SchemaTooNew, Store, open_store
from dockyard.predictor import Predictor
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.monitoring.conftest import answered, refused
from tests.monitoring.test_store import VERSICOLOR, raw


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class Outage:
    """A store factory whose database is down until :meth:`end`: its connections go to a
    wrong address, where the real driver fails (a file under a file, or port 1)."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        (tmp_path / "a-file").write_text("")
        self.wrong = (
            f"sqlite:///{tmp_path / 'a-file' / 'log.db'}"
            if url.startswith("sqlite")
            else url.replace(":55432/", ":1/")
        )
        self.down = True
        self.connections: list[Any] = []

    def __call__(self, url: str) -> Store:
        store = open_store(url)
        right, wrong = store.backend.connect, open_store(self.wrong).backend.connect

        def connect() -> Any:
            connection = (wrong if self.down else right)()
            self.connections.append(connection)
            return connection

        store.backend.connect = connect  # type: ignore[method-assign]
        return store

    def end(self) -> None:
        self.down = False


def decoded(encoded: tuple[Any, ...]) -> LoggedRow:
    return LoggedRow(*encoded[:10], *(None if v is None else json.loads(v) for v in encoded[10:]))


def stored(url: str, model: str = "iris") -> list[LoggedRow]:
    store = open_store(url)
    try:
        return store.window(model, 0)
    finally:
        store.close()


# -- rows --------------------------------------------------------------------------------------


def test_rows_of_numbers_rows_and_keeps_inputs_out_when_asked(iris: Predictor) -> None:
    event = answered(iris, [IRIS_SETOSA, VERSICOLOR], first_row=20_000, entry="csv")
    rows = [decoded(r) for r in rows_of(event, inputs=False)]
    assert [(r.row, r.inputs, r.prediction) for r in rows] == [
        (20_000, None, "setosa"),
        (20_001, None, "versicolor"),
    ]
    assert rows[0].output == iris.to_json(event.prediction)[0]  # type: ignore[arg-type]
    assert decoded(rows_of(event)[1]).inputs == VERSICOLOR


def test_a_refused_request_is_one_row_with_its_status(iris: Predictor) -> None:
    (row,) = map(decoded, rows_of(refused(iris, status=400)))
    assert (row.row, row.status, row.inputs, row.prediction, row.output) == (
        0,
        400,
        None,
        None,
        None,
    )
    assert (row.model, row.runtime, row.entry) == ("iris", iris.runtime, "json")


# -- the log ---------------------------------------------------------------------------------


def test_every_event_is_written_in_batches_and_close_flushes(
    iris: Predictor, store_url: str
) -> None:
    log = PredictionLog(store_url, batch=7)
    log.start()
    sent = 0
    for i in range(40):
        records = [IRIS_SETOSA, VERSICOLOR, IRIS_SETOSA][: 1 + i % 3]
        log(answered(iris, records, request_id=f"r{i}"))
        sent += len(records)
    log(refused(iris))
    assert log.close(timeout=30) == 0
    assert log.state() == LogState("ok", queued=0, dropped=0, written=sent + 1, error=None)
    rows = stored(store_url)
    assert len(rows) == sent
    assert {(r.request_id, r.row) for r in rows} == {
        (f"r{i}", n) for i in range(40) for n in range(1 + i % 3)
    }
    assert raw(store_url, "SELECT count(*) FROM predictions WHERE status = 422") == [(1,)]


def test_inputs_off_logs_outputs_only(iris: Predictor, store_url: str) -> None:
    log = PredictionLog(store_url, inputs=False)
    log.start()
    log(answered(iris, [IRIS_SETOSA]))
    assert log.close() == 0
    (row,) = stored(store_url)
    assert row.inputs is None
    assert row.prediction == "setosa"
    assert raw(store_url, "SELECT inputs FROM predictions") == [(None,)]


def test_a_database_that_is_down_delays_rows_and_loses_none(
    iris: Predictor, store_url: str, tmp_path: Path
) -> None:
    outage = Outage(store_url, tmp_path)
    log = PredictionLog(store_url, store_factory=outage, retry_seconds=0.02, process=False)
    log.start()  # down at start: the server starts anyway
    for i in range(10):
        log(answered(iris, [IRIS_SETOSA], request_id=f"r{i}"))
    wait_for(lambda: log.state().status == "unavailable" and log.state().queued == 10)
    state = log.state()
    assert (state.written, state.dropped) == (0, 0)
    assert state.error is not None
    assert "unavailable" in state.error or "Cannot" in state.error
    outage.end()
    wait_for(lambda: log.state().written == 10)
    assert log.state() == LogState("ok", queued=0, dropped=0, written=10, error=None)
    assert len(stored(store_url)) == 10
    assert log.close() == 0


def test_the_shipper_takes_whole_batches_while_the_writer_is_behind(
    iris: Predictor, store_url: str, tmp_path: Path
) -> None:
    # Under load the writer always holds unwritten rows. They must not count towards the
    # next batch: that woke the shipping thread at every request, for a shipment (and a
    # transaction) of one row each.
    outage = Outage(store_url, tmp_path)
    log = PredictionLog(
        store_url, batch=10, store_factory=outage, retry_seconds=0.02, process=False
    )
    shipped: list[int] = []
    log.on_taken = lambda taken: shipped.append(sum(len(rows.outputs) for rows in taken))
    log.start()
    for i in range(10):
        log(answered(iris, [IRIS_SETOSA], request_id=f"first-{i}"))
    wait_for(lambda: shipped == [10])
    for i in range(5):
        log(answered(iris, [IRIS_SETOSA], request_id=f"then-{i}"))
        time.sleep(0.01)
    wait_for(lambda: sum(shipped) == 15)
    # Together after the linger (or split once, if it ran out among the five).
    assert len(shipped) <= 3, shipped
    outage.end()
    assert log.close() == 0
    assert len(stored(store_url)) == 15


def test_a_full_queue_drops_and_counts_rows(
    iris: Predictor, store_url: str, tmp_path: Path
) -> None:
    outage = Outage(store_url, tmp_path)
    log = PredictionLog(store_url, queue=5, store_factory=outage, retry_seconds=0.02, process=False)
    log.start()
    for i in range(8):
        log(answered(iris, [IRIS_SETOSA], request_id=f"r{i}"))
    log(answered(iris, [IRIS_SETOSA] * 3, request_id="three"))
    state = log.state()
    assert (state.queued, state.dropped) == (5, 6)
    outage.end()
    wait_for(lambda: log.state().written == 5)
    assert sorted(r.request_id for r in stored(store_url)) == [f"r{i}" for i in range(5)]
    assert log.counts_since_last() == (6, 5)
    assert log.counts_since_last() == (0, 0)
    # Room again: new events are accepted.
    log(answered(iris, [IRIS_SETOSA], request_id="later"))
    assert log.close() == 0
    assert log.state().dropped == 6
    assert log.counts_since_last() == (0, 1)
    assert len(stored(store_url)) == 6


def test_close_gives_up_on_a_database_that_stays_down(
    iris: Predictor, store_url: str, tmp_path: Path
) -> None:
    log = PredictionLog(
        store_url, store_factory=Outage(store_url, tmp_path), retry_seconds=0.02, process=False
    )
    log.start()
    log(answered(iris, [IRIS_SETOSA, VERSICOLOR]))
    log(refused(iris))
    started = time.monotonic()
    assert log.close(timeout=0.5) == 3
    assert time.monotonic() - started < 10
    assert log.state().dropped == 3


@pytest.mark.postgres
def test_a_connection_the_server_closed_is_opened_again(
    iris: Predictor, postgres_url: str, tmp_path: Path
) -> None:
    import psycopg

    outage = Outage(postgres_url, tmp_path)
    outage.end()
    log = PredictionLog(postgres_url, store_factory=outage, retry_seconds=0.02, process=False)
    log.start()
    log(answered(iris, [IRIS_SETOSA], request_id="before"))
    wait_for(lambda: log.state().written == 1)
    # As when PostgreSQL restarts: the server ends the writer's session.
    (connection,) = outage.connections
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
    log(answered(iris, [IRIS_SETOSA], request_id="after"))
    assert log.close(timeout=30) == 0
    assert [r.request_id for r in stored(postgres_url)] == ["before", "after"]
    assert len(outage.connections) == 2


def test_retention_deletes_old_rows(iris: Predictor, store_url: str) -> None:
    now = time.time()
    store = open_store(store_url)
    store.migrate()
    old, recent = (
        rows_of(answered(iris, [IRIS_SETOSA], request_id=r, at=now - days * 86_400))
        for r, days in (("old", 3), ("recent", 0.5))
    )
    store.insert_encoded([*old, *recent])
    store.close()
    log = PredictionLog(store_url, retention_days=1)
    log.start()
    wait_for(lambda: [r.request_id for r in stored(store_url)] == ["recent"])
    assert log.close() == 0


def test_start_refuses_a_database_from_a_newer_dockyard(store_url: str) -> None:
    store = open_store(store_url)
    store.migrate()
    store.close()
    raw(store_url, "UPDATE dockyard_schema SET version = 9")
    log = PredictionLog(store_url)
    with pytest.raises(SchemaTooNew, match="version 9"):
        log.start()


def test_from_settings(tmp_path: Path) -> None:
    assert PredictionLog.from_settings(Settings()) is None
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog.from_settings(
        Settings(
            prediction_log=url,
            prediction_log_inputs=False,
            prediction_log_queue=3,
            prediction_log_batch=2,
            prediction_log_retention_days=7,
        )
    )
    assert log is not None
    config = log.config
    assert (config.url, config.inputs, log.capacity, config.batch, config.retention_days) == (
        url,
        False,
        3,
        2,
        7,
    )


def test_rows_wait_while_another_process_holds_the_sqlite_file(
    iris: Predictor, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.start()
    other = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another worker's long write transaction
    try:
        for i in range(5):
            log(answered(iris, [IRIS_SETOSA], request_id=f"r{i}"))
        time.sleep(0.3)
        assert (log.state().queued, log.state().written) == (5, 0)
    finally:
        other.execute("COMMIT")
        other.close()
    wait_for(lambda: log.state().written == 5)
    assert log.close() == 0
    assert len(stored(url)) == 5


def test_an_event_that_cannot_be_recorded_is_counted_and_the_log_goes_on(
    iris: Predictor, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    import numpy as np

    from dockyard.predictor.prediction import Prediction

    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.start()
    good = answered(iris, [IRIS_SETOSA], request_id="good")
    # Two probabilities for three classes: to_json cannot pair them.
    broken = dataclasses.replace(
        good, request_id="broken", prediction=Prediction(["setosa"], np.array([[0.5, 0.5]]))
    )
    log(broken)
    log(good)
    # The writer cannot encode it: close() reports it as not written.
    assert log.close() == 1
    assert [r.request_id for r in stored(url)] == ["good"]
    assert (log.state().written, log.state().dropped) == (1, 1)
    # The writer process says so on the server's standard error.
    assert "cannot record request broken" in capfd.readouterr().err


def test_a_large_event_that_fails_part_way_writes_none_of_its_rows(
    iris: Predictor, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    from dockyard.predictor.prediction import Prediction

    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = PredictionLog(url)
    log.start()
    rows = 20
    chunk = answered(iris, [IRIS_SETOSA] * rows, request_id="chunk", entry="csv")
    # The last row's label cannot be written as JSON: the rows before it could be.
    broken = dataclasses.replace(
        chunk, prediction=Prediction(["setosa"] * (rows - 1) + [object()], None)
    )
    log(broken)
    log(answered(iris, [IRIS_SETOSA], request_id="good"))
    log.close()
    assert [r.request_id for r in stored(url)] == ["good"]
    assert (log.state().written, log.state().dropped) == (1, rows)
    assert "cannot record request chunk" in capfd.readouterr().err

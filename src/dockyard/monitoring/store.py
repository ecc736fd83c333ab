"""The prediction log's database: what is written (:class:`LoggedRow`, :class:`Feedback`)
and read back (a window of predictions, predictions paired with their true answers).

:func:`open_store` takes ``sqlite:///PATH`` (:mod:`.sqlite`) or ``postgresql://…``
(:mod:`.postgres`); both hold the same tables (:mod:`.migrations`). A :class:`Store`
connects on first use and again after its database went away, and is used by one thread
at a time. Values go in as JSON text: inputs as an object per row, a prediction and a truth
as a JSON scalar, and the row's whole answer as v1 JSON gives it.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from dockyard.monitoring.migrations import (
    MIGRATIONS,
    WIDTH,
    DatabaseUnavailable,
    Dialect,
    Migration,
    PredictionLogError,
    SchemaTooNew,
    migrate,
)
from dockyard.monitoring.urls import check_prediction_log_url

__all__ = [
    "DatabaseUnavailable",
    "EncodedRow",
    "Feedback",
    "LoggedRow",
    "PredictionLogError",
    "SchemaTooNew",
    "Store",
    "open_store",
]


@dataclass(frozen=True, slots=True)
class LoggedRow:
    """One row of one request, as the ``predictions`` table holds it."""

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


@dataclass(frozen=True, slots=True)
class Feedback:
    """The true label or value of one logged row, given later."""

    request_id: str
    row: int
    model: str
    truth: Any
    time: float


# Written with ? placeholders (see Dialect.sql).
_WINDOW = """SELECT request_id, "row", "time", model, version, bundle_sha256, runtime, entry,
    status, latency_ms, inputs, prediction, output FROM predictions
    WHERE model = ? AND "time" >= ? AND "time" < ? AND status = 200 ORDER BY "time", id"""
_INSERT_FEEDBACK = (
    'INSERT INTO feedback (request_id, "row", "time", model, truth) VALUES (?, ?, ?, ?, ?)'
)
_LOGGED = 'SELECT 1 FROM predictions WHERE request_id = ? AND "row" = ? AND model = ? LIMIT 1'
# The latest feedback of each row, when it got several.
_LABELLED = """SELECT pr.prediction, fb.truth FROM predictions pr
    JOIN feedback fb
      ON fb.request_id = pr.request_id AND fb."row" = pr."row" AND fb.model = pr.model
    WHERE pr.model = ? AND pr."time" >= ? AND pr.status = 200
      AND fb.id = (
        SELECT max(latest.id) FROM feedback latest
        WHERE latest.request_id = pr.request_id AND latest."row" = pr."row"
          AND latest.model = pr.model
      )
    ORDER BY pr."time", pr.id"""
# Retention reads each table in id order, the order its rows were written, only as far as
# the first row young enough to keep, and deletes the old rows before it: it costs the rows
# it deletes, not the table, so an hourly round on a log of millions of rows holds the
# write lock for moments. A row written after a younger one (a slow request, another
# host's clock a little behind) goes at a later round, once the rows around it are old too.
_RETENTION = [
    (
        f'SELECT id FROM {table} WHERE "time" >= ? ORDER BY id LIMIT 1',  # noqa: S608 - constants
        f'DELETE FROM {table} WHERE id < ? AND "time" < ?',  # noqa: S608 - constants
        f'DELETE FROM {table} WHERE "time" < ?',  # noqa: S608 - constants
    )
    for table in ("predictions", "feedback")
]


EncodedRow = tuple[
    str, int, float, str, str, str, str, str, int, float, str | None, str | None, str | None
]
"""A ``predictions`` row as its columns, in :class:`LoggedRow`'s order, with its JSON as
text: what the log builds straight from an event."""


class Backend(Protocol):
    """What :class:`Store` needs from a database driver (:mod:`.sqlite`, :mod:`.postgres`).
    Connections and cursors are the driver's own (DB-API 2)."""

    dialect: Dialect
    where: str

    def connect(self) -> Any: ...
    def begin(self, connection: Any, *, write: bool) -> None: ...
    def lock_schema(self, cursor: Any) -> None: ...
    def insert_predictions(self, cursor: Any, values: Sequence[Any]) -> None:
        """Insert rows given as one flat sequence, :data:`WIDTH` values a row."""

    def unavailable(self, exc: BaseException) -> bool: ...
    def database_error(self, exc: BaseException) -> bool: ...


def json_text(value: Any) -> str | None:
    """``value`` as the log stores it: JSON text, or ``None`` (SQL NULL)."""
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def encode(r: LoggedRow) -> EncodedRow:
    return (
        r.request_id,
        r.row,
        r.time,
        r.model,
        r.version,
        r.bundle_sha256,
        r.runtime,
        r.entry,
        r.status,
        r.latency_ms,
        json_text(r.inputs),
        json_text(r.prediction),
        json_text(r.output),
    )


def _parsed(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class Store:
    """One prediction log database. See :func:`open_store`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.dialect = backend.dialect
        self.where = backend.where
        self._connection: Any = None
        # One connection, one transaction at a time: the server reads pages and writes
        # feedback from several worker threads through one store.
        self._lock = threading.RLock()

    # -- transactions ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Any]:
        """A cursor in a transaction, committed at the end; an unreachable database is
        :class:`DatabaseUnavailable` (and the next call connects again)."""
        with self._lock, self._locked_transaction(write=write) as cursor:
            yield cursor

    @contextlib.contextmanager
    def _locked_transaction(self, *, write: bool) -> Iterator[Any]:
        backend = self.backend
        if self._connection is None:
            self._connection = backend.connect()
        connection = self._connection
        try:
            backend.begin(connection, write=write)
            cursor = connection.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            connection.commit()
        except BaseException as exc:
            self._abandon(connection)
            if backend.unavailable(exc):
                raise DatabaseUnavailable(
                    f"The prediction log {self.where} is unavailable: {_reason(exc)}."
                ) from None
            if backend.database_error(exc):
                raise PredictionLogError(
                    f"The prediction log {self.where} refused an operation: {_reason(exc)}.",
                    hint="Check that the database holds Dockyard's tables (dockyard_schema).",
                ) from None
            raise

    def _abandon(self, connection: Any) -> None:
        # After a failure the connection's state is unknown: roll back what can be, and
        # start again with a new connection next time.
        self._connection = None
        with contextlib.suppress(Exception):
            connection.rollback()
        with contextlib.suppress(Exception):
            connection.close()

    # -- schema ----------------------------------------------------------------------------

    def migrate(self, steps: Sequence[Migration] = MIGRATIONS) -> int:
        """Create the tables, or upgrade them in place; returns the schema version.
        :class:`SchemaTooNew` when a newer Dockyard has upgraded the database."""
        with self._transaction() as cursor:
            self.backend.lock_schema(cursor)
            return migrate(cursor, self.dialect, self.where, steps)

    # -- writing ---------------------------------------------------------------------------

    def insert_predictions(self, rows: Sequence[LoggedRow]) -> None:
        """Write ``rows`` in one transaction."""
        self.insert_encoded([encode(r) for r in rows])

    def insert_encoded(self, rows: Sequence[EncodedRow]) -> None:
        """Write rows already encoded (see :data:`EncodedRow`) in one transaction."""
        self.insert_values([value for row in rows for value in row])

    def insert_values(self, values: Sequence[Any]) -> None:
        """Write encoded rows given as one flat sequence (:data:`WIDTH` values a row) in one
        transaction."""
        if len(values) % WIDTH:
            raise ValueError(f"{len(values)} values are not rows of {WIDTH} columns")
        if not values:
            return
        with self._transaction() as cursor:
            self.backend.insert_predictions(cursor, values)

    def insert_feedback(self, items: Sequence[Feedback]) -> int:
        """Record true answers; returns how many name a logged row of their model. The
        others are kept too: a prediction can reach the log after its feedback does."""
        matched = 0
        with self._transaction() as cursor:
            cursor.executemany(
                self.dialect.sql(_INSERT_FEEDBACK),
                [(f.request_id, f.row, f.time, f.model, json_text(f.truth)) for f in items],
            )
            for f in items:
                cursor.execute(self.dialect.sql(_LOGGED), (f.request_id, f.row, f.model))
                matched += cursor.fetchone() is not None
        return matched

    def delete_before(self, cutoff: float) -> int:
        """Retention: delete predictions and feedback older than ``cutoff`` (epoch
        seconds); returns how many rows went, from both tables."""
        sql = self.dialect.sql
        deleted = 0
        with self._transaction() as cursor:
            for first_kept, delete_before, delete_all in _RETENTION:
                cursor.execute(sql(first_kept), (cutoff,))
                found = cursor.fetchone()
                if found is None:  # every row is old
                    cursor.execute(sql(delete_all), (cutoff,))
                else:
                    cursor.execute(sql(delete_before), (found[0], cutoff))
                deleted += int(cursor.rowcount)
        return deleted

    # -- reading ---------------------------------------------------------------------------

    def window(self, model: str, since: float, until: float | None = None) -> list[LoggedRow]:
        """The answered rows (status 200) of ``model`` from ``since`` up to ``until``
        (excluded), oldest first."""
        with self._transaction(write=False) as cursor:
            # inf: "until" open; float8 and SQLite REAL both order it after every time.
            cursor.execute(
                self.dialect.sql(_WINDOW), (model, since, math.inf if until is None else until)
            )
            found = cursor.fetchall()
        return [
            LoggedRow(
                request_id,
                int(row),
                float(time),
                model_,
                version,
                sha256,
                runtime,
                entry,
                int(status),
                float(latency_ms),
                _parsed(inputs),
                _parsed(prediction),
                _parsed(output),
            )
            for (
                request_id,
                row,
                time,
                model_,
                version,
                sha256,
                runtime,
                entry,
                status,
                latency_ms,
                inputs,
                prediction,
                output,
            ) in found
        ]

    def labelled(self, model: str, since: float) -> list[tuple[Any, Any]]:
        """(prediction, truth) of each answered row of ``model`` since ``since`` that has
        feedback (the latest, when a row got several), oldest first."""
        with self._transaction(write=False) as cursor:
            cursor.execute(self.dialect.sql(_LABELLED), (model, since))
            found = cursor.fetchall()
        return [(_parsed(prediction), _parsed(truth)) for prediction, truth in found]

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def open_store(url: str) -> Store:
    """The store at ``url``: ``sqlite:///PATH`` (``sqlite:////abs/path``: four slashes for
    an absolute path) or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``. Nothing
    connects until the store is used."""
    try:
        check_prediction_log_url(url)
    except ValueError as exc:
        raise PredictionLogError(f"Prediction log: {exc}.") from None
    if url.startswith("sqlite:"):
        from dockyard.monitoring.sqlite import SQLiteBackend

        return Store(SQLiteBackend(Path(url.removeprefix("sqlite:///"))))
    try:
        from dockyard.monitoring.postgres import PostgresBackend
    except ImportError as exc:  # a slim image leaves the driver out
        raise PredictionLogError(
            f"A prediction log in PostgreSQL needs psycopg, which this installation lacks ({exc}).",
            hint="Log to sqlite:///PATH, or serve from a full (not slim) image.",
        ) from None
    return Store(PostgresBackend(url))

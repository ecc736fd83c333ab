"""The prediction log's schema, as an ordered list of migrations applied in place.

The database records its version in ``dockyard_schema`` (one row). :func:`migrate` brings
it up to :data:`SCHEMA_VERSION` in one transaction, each step in order, and refuses a
database that a newer Dockyard has already upgraded: this one would not know its tables.
A new version is a new :class:`Migration` at the end of :data:`MIGRATIONS`; the steps
before it never change, since databases out there have already run them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.errors import DockyardError


class PredictionLogError(DockyardError):
    """The prediction log's database cannot be used."""

    code = "prediction_log"


class DatabaseUnavailable(PredictionLogError):
    """The database is unreachable or refused the operation; worth retrying later."""

    status_code = 503
    code = "prediction_log_unavailable"


class SchemaTooNew(PredictionLogError):
    """The database was upgraded by a newer Dockyard."""

    code = "prediction_log_schema"


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in Dockyard's SQL."""

    name: str
    param: str
    """The DB-API placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    id_column: str
    """An auto-numbered primary key column's type."""

    def sql(self, text: str) -> str:
        """``text``, written with ``?`` placeholders, in this driver's style. (Dockyard's
        SQL holds no other ``?``; values always travel as parameters.)"""
        return text if self.param == "?" else text.replace("?", self.param)


SQLITE = Dialect("sqlite", "?", "INTEGER PRIMARY KEY")
POSTGRESQL = Dialect("postgresql", "%s", "BIGSERIAL PRIMARY KEY")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: the statements that take the schema from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: Callable[[Dialect], list[str]]


# "row" and "time" are keywords in one dialect or the other: always quoted.
def _version_1(d: Dialect) -> list[str]:
    return [
        f"""CREATE TABLE predictions (
            id {d.id_column},
            request_id TEXT NOT NULL,
            "row" INTEGER NOT NULL,
            "time" DOUBLE PRECISION NOT NULL,
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            bundle_sha256 TEXT NOT NULL,
            runtime TEXT NOT NULL,
            entry TEXT NOT NULL,
            status INTEGER NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            inputs TEXT,
            prediction TEXT,
            output TEXT
        )""",
        'CREATE INDEX predictions_model_time ON predictions (model, "time")',
        "CREATE INDEX predictions_request_id ON predictions (request_id)",
        f"""CREATE TABLE feedback (
            id {d.id_column},
            request_id TEXT NOT NULL,
            "row" INTEGER NOT NULL DEFAULT 0,
            "time" DOUBLE PRECISION NOT NULL,
            model TEXT NOT NULL,
            truth TEXT NOT NULL
        )""",
        'CREATE INDEX feedback_model_time ON feedback (model, "time")',
        "CREATE INDEX feedback_request_id ON feedback (request_id)",
    ]


PREDICTION_COLUMNS = (
    'request_id, "row", "time", model, version, bundle_sha256, runtime, entry, status, '
    "latency_ms, inputs, prediction, output"
)
"""The columns a row is written with, in the order of ``store.LoggedRow``'s fields."""
WIDTH = PREDICTION_COLUMNS.count(",") + 1
"""Columns of a ``predictions`` row (``store.EncodedRow``). The log keeps the rows it has
not written yet as one flat list, ``WIDTH`` values a row: no tuple per row to build, and
SQLite inserts many rows per statement from a slice of it."""


def rows_from(values: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a flat sequence of ``WIDTH`` values a row."""
    columns = iter(values)
    return list(zip(*[columns] * WIDTH, strict=True))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "predictions and feedback, indexed by model and time and by request id", _version_1
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version


def migrate(
    cursor: Any, dialect: Dialect, where: str, steps: Sequence[Migration] = MIGRATIONS
) -> int:
    """Create or upgrade the schema through ``cursor``, inside the caller's transaction
    (which holds the write lock); returns the version the database has now. ``where``
    names the database in errors."""
    latest = steps[-1].version
    cursor.execute("CREATE TABLE IF NOT EXISTS dockyard_schema (version INTEGER NOT NULL)")
    cursor.execute("SELECT max(version), count(*) FROM dockyard_schema")
    found, count = cursor.fetchone()
    current = 0 if found is None else int(found)
    if current > latest:
        raise SchemaTooNew(
            f"The prediction log {where} has schema version {current}; this Dockyard knows "
            f"versions up to {latest}.",
            hint="Upgrade Dockyard, or log to another database.",
        )
    before = current
    for step in steps:
        if step.version > current:
            for statement in step.statements(dialect):
                cursor.execute(statement)
            current = step.version
    if count != 1:
        cursor.execute("DELETE FROM dockyard_schema")
        cursor.execute(dialect.sql("INSERT INTO dockyard_schema (version) VALUES (?)"), (current,))
    elif current != before:
        cursor.execute(dialect.sql("UPDATE dockyard_schema SET version = ?"), (current,))
    return current

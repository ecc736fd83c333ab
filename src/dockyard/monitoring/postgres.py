"""The prediction log in PostgreSQL (``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``),
through psycopg 3 (with its binary build: libpq comes in the wheel, so an image installs
it offline from the hash-locked wheelhouse, without a system package)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from dockyard.monitoring.migrations import (
    POSTGRESQL,
    PREDICTION_COLUMNS,
    DatabaseUnavailable,
    Dialect,
    rows_from,
)
from dockyard.monitoring.urls import redacted_url

CONNECT_TIMEOUT_SECONDS = 5
# pg_advisory_xact_lock's key for migrations ("dock"): workers starting together migrate
# one at a time, the others then find the schema current.
_SCHEMA_LOCK = 0x646F636B
# COPY: 1.7 times the rows per second of executemany's pipelined INSERTs, for less of the
# writer's time.
_COPY = f"COPY predictions ({PREDICTION_COLUMNS}) FROM STDIN"


class PostgresBackend:
    """Connections to one PostgreSQL database."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redacted_url(url)

    def connect(self) -> Any:
        try:
            return psycopg.connect(
                self.url, connect_timeout=CONNECT_TIMEOUT_SECONDS, application_name="dockyard"
            )
        except psycopg.Error as exc:
            # libpq's message names the host and port, never the password.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnavailable(
                f"Cannot connect to the prediction log {self.where}: {reason}.",
                hint="Check that PostgreSQL runs there and the user, password and database.",
            ) from None

    def begin(self, connection: Any, *, write: bool) -> None:
        """psycopg opens a transaction with the first statement."""

    def lock_schema(self, cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))

    def insert_predictions(self, cursor: Any, values: Sequence[Any]) -> None:
        with cursor.copy(_COPY) as copy:
            for row in rows_from(values):
                copy.write_row(row)

    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means try again later (server gone, restarting, unreachable)."""
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def database_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error)

"""The prediction log in a SQLite file (``sqlite:///PATH``), shared by worker processes.

WAL mode lets readers (the monitor, the monitoring page) work while a worker writes, and a
busy timeout makes a writer wait its turn for the file's one write lock instead of failing;
writes take that lock up front (``BEGIN IMMEDIATE``), so two processes can never both hold
a read lock and deadlock upgrading it.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dockyard.monitoring.migrations import (
    PREDICTION_COLUMNS,
    SQLITE,
    WIDTH,
    DatabaseUnavailable,
    Dialect,
)

BUSY_TIMEOUT_SECONDS = 30.0
"""How long a writer waits for another process's transaction before giving up (the
prediction log then retries the batch later)."""
PAGE_SIZE = 16_384
"""Bytes per page of a new log file."""
CHUNK_ROWS = 1000
"""Rows inserted by one statement (13,000 parameters; SQLite allows 32,766 since 3.32).

One multi-row ``INSERT`` costs the same CPU per row as ``executemany`` but lets go of the
GIL once, where ``executemany`` lets go of it for every row. That matters when the writer
is a thread (``PredictionLog(process=False)``): each time it wants the GIL back while the
event loop is busy, it is woken at every one of the loop's system calls until it gets it
(up to the 5 ms switch interval), and every such wake-up is CPU taken from the requests."""


@functools.lru_cache(maxsize=16)
def _insert(rows: int) -> str:
    one = "(" + ", ".join("?" * WIDTH) + ")"
    return f"INSERT INTO predictions ({PREDICTION_COLUMNS}) VALUES " + ", ".join([one] * rows)  # noqa: S608 - constants only


def _wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode. While another connection holds a lock on a file not yet in
    WAL mode (the first worker creating the log), SQLite refuses at once, without its busy
    timeout: wait for that lock here, as for any other."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


# SQLite's primary result codes that say "not now" rather than "never".
_TRANSIENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)


class SQLiteBackend:
    """Connections to one SQLite file."""

    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = f"sqlite:///{path}"

    def connect(self) -> Any:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE below.
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            # Set before the first table exists (later it changes nothing): 16 KiB pages
            # make a logged row cost about a fifth less CPU to insert than the default 4 KiB
            # (fewer page splits and WAL frames per row; bench/log_insert.py).
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            _wal(connection)
            # In WAL mode NORMAL never corrupts the file; a power cut may lose the last
            # transactions, which a log can afford for a write that costs no fsync.
            connection.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(
                f"Cannot open the prediction log {self.where}: {exc}.",
                hint="Check that its directory exists and is writable.",
            ) from None
        return connection

    def begin(self, connection: Any, *, write: bool) -> None:
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def lock_schema(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE already holds the file's write lock."""

    def insert_predictions(self, cursor: Any, values: Sequence[Any]) -> None:
        step = CHUNK_ROWS * WIDTH
        for start in range(0, len(values), step):
            part = values[start : start + step]
            cursor.execute(_insert(len(part) // WIDTH), part)

    def unavailable(self, exc: BaseException) -> bool:
        """Whether ``exc`` means try again later (locked, unreadable, disk full), not a
        statement the database refuses (also an OperationalError in sqlite3)."""
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _TRANSIENT

    def database_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

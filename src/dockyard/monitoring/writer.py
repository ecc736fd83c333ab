"""The prediction log's writer: it encodes what the log's observer gathered
(:class:`~dockyard.monitoring.parcels.Parcel`) and writes it to the database in
transactions of at most ``batch`` rows, retries with exponential backoff while the database
is down, and deletes old rows when a retention is set.

It runs in a process of its own (``python -m dockyard.monitoring``, started by
:class:`~dockyard.monitoring.log.PredictionLog`), fed through a socket (:mod:`.wire`), so
that none of its work takes the GIL of the worker that answers requests: in a thread, each
time it wanted the GIL back while the event loop was busy it was woken at every one of the
loop's system calls until it got it, and a saturated server lost a sixth of its requests
to that. A program that cannot start processes runs it in a thread (``process=False``).

It reports its counts (:class:`Progress`) after every change, and stops when told to
close, or when its parent goes away, once it has written what it holds or its deadline
has passed.
"""

from __future__ import annotations

import logging
import math
import select
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dockyard.monitoring import wire
from dockyard.monitoring.migrations import WIDTH
from dockyard.monitoring.parcels import Parcel
from dockyard.monitoring.store import PredictionLogError, Store, open_store

__all__ = ["Inbox", "Progress", "Writer", "WriterConfig", "warn_unavailable"]

logger = logging.getLogger("dockyard.monitoring")

RETENTION_INTERVAL_SECONDS = 3600.0
"""How often old rows are deleted when a retention is set."""
IDLE_SECONDS = 0.5
"""How long the writer waits for rows before it looks at its retention again."""
ORPHAN_SECONDS = 10.0
"""How long a writer whose parent went away keeps trying to write what it holds."""
_RETRY_MAX_SECONDS = 10.0
_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class WriterConfig:
    url: str
    inputs: bool
    """False: each row's inputs are left out (personal data)."""
    batch: int
    """Rows per transaction, at most."""
    retention_days: float | None
    retry_seconds: float
    """The first wait after a failed write; it doubles up to 10 s."""


@dataclass(frozen=True, slots=True)
class Progress:
    """The writer's counts, in rows."""

    done: int
    """Rows it took: written, or lost."""
    written: int
    lost: int
    """Rows it could not encode, or gave up on at close."""
    error: str | None
    """Why the database is unavailable, from a failed write until the next one succeeds."""


Rows = tuple[list[Any], list[Parcel]]
"""What the log sends: rows already encoded (flat, :data:`WIDTH` values a row: the
refusals), and the answered rows of each model."""


class Inbox(Protocol):
    """Where the writer's work comes from."""

    def get(self, timeout: float) -> Rows | float | None:
        """Rows; or the seconds left to write everything before stopping (the log is
        closing, or went away); or ``None`` when nothing came within ``timeout``."""


class Writer:
    """Writes what arrives in an inbox to the store, reporting its :class:`Progress`."""

    def __init__(
        self,
        config: WriterConfig,
        store: Store,
        *,
        error: str | None = None,
        pause: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.store = store
        self._pause = pause
        self._pending: list[Any] = []
        self._migrated = False
        self._next_retention = 0.0
        self._done = self._written = self._lost = 0
        self._error = error

    @property
    def progress(self) -> Progress:
        return Progress(self._done, self._written, self._lost, self._error)

    def run(self, inbox: Inbox, report: Callable[[Progress], None]) -> None:
        """Write what ``inbox`` gives until it says to stop and everything is written, or
        the time it gave has passed (what is left is counted lost)."""
        deadline = math.inf
        retry = self.config.retry_seconds
        next_try = 0.0
        step = self.config.batch * WIDTH
        last: Progress | None = None  # reported at once: the writer is running
        while True:
            self._retain()
            now = time.monotonic()
            if self._pending and now >= next_try:
                if self._write(self._pending[:step]):
                    del self._pending[:step]
                    retry, next_try = self.config.retry_seconds, 0.0
                elif now >= deadline:
                    self._give_up()
                else:
                    # Not retried sooner for new rows: a database that is down is not
                    # retried at the request rate.
                    next_try = now + min(retry, deadline - now)
                    retry = min(retry * 2, _RETRY_MAX_SECONDS)
            if self.progress != last:
                last = self.progress
                report(last)
            if not self._pending and deadline < math.inf:
                return
            wait = IDLE_SECONDS if not self._pending else max(next_try - time.monotonic(), 0.0)
            got = inbox.get(min(wait, max(deadline - time.monotonic(), 0.0)))
            if isinstance(got, tuple):
                self._add(*got)
            elif got is not None:
                deadline = min(deadline, time.monotonic() + got)
                next_try = 0.0

    def _add(self, values: list[Any], parcels: Sequence[Parcel]) -> None:
        self._pending += values
        for parcel in parcels:
            lost = parcel.encode(self._pending, inputs=self.config.inputs, pause=self._pause)
            self._lost += lost
            self._done += lost

    def _write(self, chunk: list[Any]) -> bool:
        """Write ``chunk``; False when the database failed (try again later)."""
        rows = len(chunk) // WIDTH
        try:
            if not self._migrated:
                self._migrate()
            try:
                self.store.insert_values(chunk)
            except PredictionLogError:
                # The database may come back empty (a new PostgreSQL, a deleted file).
                self._migrated = False
                raise
        except PredictionLogError as exc:
            self._failed(exc)
            return False
        except Exception:
            # Not the database: a bug, which retrying would only repeat. The chunk is
            # counted lost, and the log goes on with the next.
            logger.exception("prediction log: cannot write %d rows", rows)
            self._lost += rows
            self._done += rows
            return True
        self._done += rows
        self._written += rows
        self._recovered()
        return True

    def _migrate(self) -> None:
        self.store.migrate()
        self._migrated = True

    def _retain(self) -> None:
        days = self.config.retention_days
        if days is None or time.monotonic() < self._next_retention:
            return
        try:
            if not self._migrated:
                self._migrate()
            deleted = self.store.delete_before(time.time() - days * _DAY)
        except PredictionLogError as exc:
            self._failed(exc)
            self._next_retention = time.monotonic() + 60.0
            return
        self._recovered()
        self._next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
        if deleted:
            logger.info("prediction log: deleted %d rows older than %g days", deleted, days)

    def _failed(self, exc: PredictionLogError) -> None:
        self._error = warn_unavailable(exc) if self._error is None else exc.message

    def _recovered(self) -> None:
        if self._error is not None:
            logger.warning("prediction log: %s is available again.", self.store.where)
            self._error = None

    def _give_up(self) -> None:
        lost = len(self._pending) // WIDTH
        self._pending.clear()
        logger.error(
            "prediction log: %d rows not written at shutdown: %s", lost, self._error or "timeout"
        )
        self._lost += lost
        self._done += lost


def warn_unavailable(exc: PredictionLogError) -> str:
    """Say that the database cannot be written, and why; returns the reason (``exc``'s
    message), which ``/readyz`` shows until a write succeeds."""
    logger.warning("prediction log: %s Predictions are queued until it is back.", exc)
    return exc.message


# -- the writer process --------------------------------------------------------------------


class _SocketInbox:
    """The inbox of the writer process: what its parent sends. A parent that goes away (the
    socket ends) is read as an order to close within :data:`ORPHAN_SECONDS`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ended = False

    def get(self, timeout: float) -> Rows | float | None:
        if self.ended:
            time.sleep(timeout)
            return None
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        try:
            message = wire.receive(self.sock)
        except (EOFError, OSError):
            self.ended = True
            return ORPHAN_SECONDS
        return message  # type: ignore[no-any-return]


def main(argv: Sequence[str]) -> int:
    """``python -m dockyard.monitoring FD``: write what comes on socket ``FD``."""
    # The server's signals are for the server: it tells the writer when to stop, after
    # handing over the last rows (a Ctrl-C reaches the whole process group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    sock = socket.socket(fileno=int(argv[0]))
    config = wire.receive(sock)
    assert isinstance(config, WriterConfig)
    writer = Writer(config, open_store(config.url))
    inbox = _SocketInbox(sock)

    def report(progress: Progress) -> None:
        if not inbox.ended:
            try:
                wire.send(sock, progress)
            except OSError:
                inbox.ended = True

    try:
        writer.run(inbox, report)
    finally:
        writer.store.close()
        sock.close()
    return 0

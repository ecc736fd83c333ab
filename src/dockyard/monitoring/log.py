"""The prediction log: every answered (or refused) request, written to a database off the
request path.

A :class:`PredictionLog` is a data-plane observer. Called on the event loop with each
:class:`~dockyard.predictor.events.PredictionEvent` (from worker threads for CSV chunks), it
gathers an answered event's rows column by column per model
(:class:`~dockyard.monitoring.rows.Gathered`: a few list appends) and encodes a refusal's
one row at once. The writer thread takes everything gathered when a batch is full or every
:data:`LINGER_SECONDS`, encodes it in bulk (one ``to_json`` over a stacked score matrix, a
slice of rows at a time), and writes it in transactions of at most ``batch`` rows.

Why the writer wants the GIL rarely: it shares the GIL with the event loop, and each time
it wants the GIL back while the loop is busy it is woken at every one of the loop's system
calls until it gets it (up to the 5 ms switch interval). Every such wake-up is CPU taken
from the requests, so the writer is built to want the GIL a few times a second, not per
event or per row: the database gets many rows per statement (:mod:`.sqlite`), and the
writer lets the loop run between slices of encoding.

While the database is unreachable, rows wait and the writer retries with exponential
backoff; when the queue is full, new rows are dropped and counted (:attr:`LogState.dropped`),
so the server never waits for the database and never grows without bound.
:meth:`PredictionLog.close` flushes the queue (SIGTERM).

Every count is written by one thread only (the observer's under its lock, the writer's by
the writer), so the writer's need no lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dockyard.monitoring.migrations import WIDTH
from dockyard.monitoring.rows import Gathered, answered, encode_into
from dockyard.monitoring.store import (
    DatabaseUnavailable,
    PredictionLogError,
    Store,
    open_store,
)
from dockyard.predictor.events import AnsweredRows, PredictionEvent

if TYPE_CHECKING:
    from dockyard.settings import Settings

logger = logging.getLogger("dockyard.monitoring")

RETENTION_INTERVAL_SECONDS = 3600.0
"""How often old rows are deleted when a retention is set."""
LINGER_SECONDS = 0.5
"""How long rows may wait for a batch to fill before they are written anyway."""
_RETRY_FIRST_SECONDS = 0.1
_RETRY_MAX_SECONDS = 10.0
_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class LogState:
    """What ``/readyz`` and ``/metrics`` report about the log (counts are rows)."""

    status: Literal["ok", "unavailable"]
    """``unavailable`` from a failed write until the next one succeeds."""
    queued: int
    """Rows accepted and not written yet."""
    dropped: int
    """Rows never written: the queue was full (or the writer gave up at close)."""
    written: int
    error: str | None
    """Why the database is unavailable."""


class PredictionLog:
    """Records each :class:`PredictionEvent` it is called with in the database at ``url``.

    ``inputs`` false keeps each row's inputs out of the log; ``queue`` bounds the rows
    waiting (per process); ``batch`` bounds the rows per transaction; ``retention_days``
    deletes older rows every hour. ``store_factory`` opens the database (tests give one
    that fails, then works). Call :meth:`start` once, :meth:`close` at shutdown.
    """

    def __init__(
        self,
        url: str,
        *,
        inputs: bool = True,
        queue: int = 20_000,
        batch: int = 2_000,
        retention_days: float | None = None,
        store_factory: Callable[[str], Store] = open_store,
        retry_seconds: float = _RETRY_FIRST_SECONDS,
    ) -> None:
        self.url = url
        self.inputs = inputs
        self.capacity = queue
        self.batch = batch
        self.retention_days = retention_days
        self._store = store_factory(url)
        self._retry_first = retry_seconds
        # Under _accepting: the refusals' rows, encoded by the observer (flat, WIDTH values
        # a row); the answered events' rows, gathered per predictor (by identity).
        self._values: list[Any] = []
        self._gathered: dict[int, Gathered] = {}
        self._accepting = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._migrated = False
        self._next_retention = 0.0
        # Written by the observer only, under _accepting:
        self._accepted = 0
        self._dropped = 0
        # Written by the writer thread only:
        self._done = 0
        self._written = 0
        self._lost = 0
        self._error: str | None = None
        # Read by counts_since_last only:
        self._reported = (0, 0)
        self.on_taken: Callable[[list[AnsweredRows]], None] | None = None
        """Called by the writer thread with the answered rows of the events it takes off
        the queue, one :class:`AnsweredRows` per model (the live drift gauges count them
        there: off the request path, and while the database is down too). Set it before
        :meth:`start`."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictionLog | None:
        """The log ``settings`` ask for; ``None`` when ``prediction_log`` is unset."""
        if settings.prediction_log is None:
            return None
        return cls(
            settings.prediction_log,
            inputs=settings.prediction_log_inputs,
            queue=settings.prediction_log_queue,
            batch=settings.prediction_log_batch,
            retention_days=settings.prediction_log_retention_days,
        )

    # -- the request path ------------------------------------------------------------------

    def __call__(self, event: PredictionEvent) -> None:
        """Queue ``event``'s rows for the writer (a refusal's one row encoded now, answered
        rows gathered column by column); drop them, and count them, if the queue is full."""
        rows = 1 if event.prediction is None else len(event.prediction)
        ok = answered(event)
        # CSV chunks are observed from worker threads, everything else on the event loop.
        with self._accepting:
            queued = self._accepted - self._done
            if queued and queued + rows > self.capacity:
                self._dropped += rows
                return
            self._accepted += rows
            if ok:
                gathered = self._gathered.get(id(event.predictor))
                if gathered is None:
                    gathered = self._gathered[id(event.predictor)] = Gathered(event.predictor)
                gathered.add(event)
        if not ok:
            values: list[Any] = []
            try:
                encode_into(values, event, inputs=self.inputs)
            except Exception:
                # A bug, not the database: the row is counted dropped and the log goes on.
                logger.exception("prediction log: cannot record request %s", event.request_id)
                with self._accepting:
                    self._accepted -= rows
                    self._dropped += rows
                return
            with self._accepting:
                self._values += values
        # The writer is woken for a full batch only; otherwise it comes by itself within
        # LINGER_SECONDS. Waking it per request would cost every request a thread switch.
        if queued + rows >= self.batch and not self._wake.is_set():
            self._wake.set()

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Create or upgrade the tables, then start the writer. A database that is down
        does not stop the start (the writer retries); one a newer Dockyard upgraded does
        (:class:`SchemaTooNew`), as does one that is not a prediction log."""
        try:
            self._migrate()
        except DatabaseUnavailable as exc:
            self._failed(exc)
        self._thread = threading.Thread(
            target=self._run, name="dockyard-prediction-log", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> int:
        """Write what is queued, within ``timeout`` seconds (retrying while the database is
        down), then stop; returns how many rows could not be written (0: all flushed)."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout + 1.0)
            if thread.is_alive():
                # Stuck in the driver past the deadline; its rows are reported lost.
                return self._lost + self._accepted - self._done
        self._store.close()
        return self._lost + (self._accepted - self._done)

    def state(self) -> LogState:
        return LogState(
            status="ok" if self._error is None else "unavailable",
            queued=max(self._accepted - self._done, 0),
            dropped=self._dropped + self._lost,
            written=self._written,
            error=self._error,
        )

    def counts_since_last(self) -> tuple[int, int]:
        """(dropped, written) rows since the previous call: what the Prometheus counters
        ``dockyard_prediction_log_dropped_total`` and ``…_written_total`` add at each of
        the server's metric flushes. Call it from one thread."""
        state = self.state()
        dropped, written = state.dropped - self._reported[0], state.written - self._reported[1]
        self._reported = (state.dropped, state.written)
        return dropped, written

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        pending: list[Any] = []
        step = self.batch * WIDTH
        retry = self._retry_first
        while True:
            # Here, not only when idle: under steady load the queue is never empty.
            self._retain()
            if not pending:
                pending = self._take()
            if pending:
                chunk = pending[:step]
                rows = len(chunk) // WIDTH
                try:
                    self._write(chunk)
                except PredictionLogError as exc:
                    self._failed(exc)
                    if self._closing.is_set() and time.monotonic() >= self._deadline:
                        self._give_up(len(pending) // WIDTH)
                        return
                    # Woken early only by close(), never by new events: a database that
                    # is down is not retried at the request rate.
                    self._closing.wait(min(retry, max(self._deadline - time.monotonic(), 0)))
                    retry = min(retry * 2, _RETRY_MAX_SECONDS)
                    continue
                except Exception:
                    # Not the database: a bug, which retrying would only repeat. The chunk
                    # is counted lost, and the log goes on with the next.
                    logger.exception("prediction log: cannot write %d rows", rows)
                    del pending[:step]
                    self._lost += rows
                    self._done += rows
                    continue
                del pending[:step]
                self._done += rows
                self._written += rows
                self._recovered()
                retry = self._retry_first
                continue
            if self._closing.is_set():
                return
            self._wake.wait(LINGER_SECONDS)
            self._wake.clear()

    def _take(self) -> list[Any]:
        """Everything queued, encoded: flat, :data:`WIDTH` values a row. The drift gauges
        (``on_taken``) count the answered rows first."""
        with self._accepting:
            values, self._values = self._values, []
            gathered, self._gathered = self._gathered, {}
        if self.on_taken is not None and gathered:
            try:
                self.on_taken([g.answered for g in gathered.values()])
            except Exception:
                # A bug in the callback: its rows are still written.
                logger.exception("prediction log: on_taken failed for %d models", len(gathered))
        for rows in gathered.values():
            # Between slices the event loop gets the GIL: encoding a full queue at once
            # kept requests waiting for milliseconds.
            lost = rows.encode(values, inputs=self.inputs, pause=_let_others_run)
            self._lost += lost
            self._done += lost
        return values

    def _write(self, values: list[Any]) -> None:
        if not self._migrated:
            self._migrate()
        try:
            self._store.insert_values(values)
        except PredictionLogError:
            # The database may come back empty (a new PostgreSQL, a deleted file).
            self._migrated = False
            raise

    def _migrate(self) -> None:
        self._store.migrate()
        self._migrated = True

    def _retain(self) -> None:
        if self.retention_days is None or time.monotonic() < self._next_retention:
            return
        try:
            if not self._migrated:
                self._migrate()
            deleted = self._store.delete_before(time.time() - self.retention_days * _DAY)
        except PredictionLogError as exc:
            self._failed(exc)
            self._next_retention = time.monotonic() + 60.0
            return
        self._recovered()
        self._next_retention = time.monotonic() + RETENTION_INTERVAL_SECONDS
        if deleted:
            logger.info(
                "prediction log: deleted %d rows older than %g days", deleted, self.retention_days
            )

    def _failed(self, exc: PredictionLogError) -> None:
        if self._error is None:
            logger.warning("prediction log: %s Predictions are queued until it is back.", exc)
        self._error = exc.message

    def _recovered(self) -> None:
        if self._error is not None:
            logger.warning("prediction log: %s is available again.", self._store.where)
            self._error = None

    def _give_up(self, pending: int) -> None:
        with self._accepting:
            waiting = len(self._values) // WIDTH
            waiting += sum(g.rows for g in self._gathered.values())
            self._values, self._gathered = [], {}
        lost = pending + waiting
        logger.error(
            "prediction log: %d rows not written at shutdown: %s", lost, self._error or "timeout"
        )
        self._lost += lost
        self._done += lost


def _let_others_run() -> None:
    time.sleep(0)

"""The prediction log: every answered (or refused) request, written to a database off the
request path.

A :class:`PredictionLog` is a data-plane observer. Called on the event loop with each
:class:`~dockyard.predictor.events.PredictionEvent` (from worker threads for CSV chunks), it
gathers an answered event's rows column by column per model
(:class:`~dockyard.monitoring.rows.Gathered`: a few list appends) and encodes a refusal's
one row at once. Its shipping thread takes everything gathered when a batch is full or
every :data:`LINGER_SECONDS` and hands it to the writer (:mod:`.writer`), which runs in a
process of its own (:mod:`.channel`): encoding and writing rows take none of the worker's
GIL, so they cost the requests nothing but the gathering and one pickle per batch.

While the database is unreachable, rows wait and the writer retries with exponential
backoff; when the queue (the rows accepted and not yet written, the writer's included) is
full, new rows are dropped and counted (:attr:`LogState.dropped`), so the server never
waits for the database and never grows without bound. :meth:`PredictionLog.close` flushes
the queue (SIGTERM).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dockyard.monitoring.channel import WriterProcess, WriterThread
from dockyard.monitoring.rows import Gathered, encode_into
from dockyard.monitoring.store import DatabaseUnavailable, Store, open_store
from dockyard.monitoring.writer import Progress, WriterConfig, warn_unavailable
from dockyard.predictor.events import AnsweredRows, PredictionEvent, answered

if TYPE_CHECKING:
    from dockyard.settings import Settings

logger = logging.getLogger("dockyard.monitoring")

LINGER_SECONDS = 0.5
"""How long rows may wait for a batch to fill before they are handed to the writer."""
_RETRY_FIRST_SECONDS = 0.1


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
    waiting (per worker process, the writer's included); ``batch`` bounds the rows per
    transaction; ``retention_days`` deletes older rows every hour. The writer runs in a
    process of its own unless ``process`` is false; then it runs in a thread, and
    ``store_factory`` may open its database (tests give one that fails, then works). Call
    :meth:`start` once, :meth:`close` at shutdown.
    """

    def __init__(
        self,
        url: str,
        *,
        inputs: bool = True,
        queue: int = 20_000,
        batch: int = 2_000,
        retention_days: float | None = None,
        store_factory: Callable[[str], Store] | None = None,
        retry_seconds: float = _RETRY_FIRST_SECONDS,
        process: bool = True,
    ) -> None:
        if store_factory is not None and process:
            raise ValueError("a store_factory is used in this process only: pass process=False")
        self.capacity = queue
        self.config = WriterConfig(url, inputs, batch, retention_days, retry_seconds)
        """The log's settings, as its writer gets them."""
        self._store_factory = store_factory or open_store
        self._writer: WriterProcess | WriterThread | None = None
        self._process = process
        # Under _accepting: the refusals' rows, encoded by the observer (flat, WIDTH values
        # a row); the answered events' rows, gathered per predictor (by identity).
        self._values: list[Any] = []
        self._gathered: dict[int, Gathered] = {}
        self._accepting = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        # Written by the observer only, under _accepting:
        self._accepted = 0
        self._dropped = 0
        # Under _accepting: rows accepted since the shipping thread last took them.
        self._unshipped = 0
        # Read by counts_since_last only:
        self._reported = (0, 0)
        self.on_taken: Callable[[list[AnsweredRows]], None] | None = None
        """Called by the shipping thread with the answered rows it takes off the queue,
        one :class:`AnsweredRows` per model (the live drift gauges count them there: off
        the request path, and while the database is down too). Set it before
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
        writer = self._writer
        done = 0 if writer is None else writer.done
        # CSV chunks are observed from worker threads, everything else on the event loop.
        with self._accepting:
            queued = self._accepted - done
            if queued and queued + rows > self.capacity:
                self._dropped += rows
                return
            self._accepted += rows
            self._unshipped += rows
            unshipped = self._unshipped
            if ok:
                gathered = self._gathered.get(id(event.predictor))
                if gathered is None:
                    gathered = self._gathered[id(event.predictor)] = Gathered(event.predictor)
                gathered.add(event)
        if not ok:
            values: list[Any] = []
            try:
                encode_into(values, event, inputs=self.config.inputs)
            except Exception:
                # A bug, not the database: the row is counted dropped and the log goes on.
                logger.exception("prediction log: cannot record request %s", event.request_id)
                with self._accepting:
                    self._accepted -= rows
                    self._dropped += rows
                return
            with self._accepting:
                self._values += values
        # The shipper is woken for a full batch only; otherwise it comes by itself within
        # LINGER_SECONDS. Waking it per request would cost every request a thread switch,
        # and the writer a transaction for a few rows. (A batch counts the rows gathered
        # since it last came, not all the rows unwritten: under load the writer always
        # holds a batch or so, and counting those woke it at every request.)
        if unshipped >= self.config.batch and not self._wake.is_set():
            self._wake.set()

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Create or upgrade the tables, then start the writer. A database that is down
        does not stop the start (the writer retries); one a newer Dockyard upgraded does
        (:class:`SchemaTooNew`), as does one that is not a prediction log."""
        store = self._store_factory(self.config.url)
        error: str | None = None
        try:
            store.migrate()
        except DatabaseUnavailable as exc:
            error = warn_unavailable(exc)
        if self._process:
            store.close()
            self._writer = WriterProcess(self.config, error)
        else:
            self._writer = WriterThread(self.config, store, error)
        self._thread = threading.Thread(
            target=self._ship, name="dockyard-prediction-log", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 10.0) -> int:
        """Write what is queued, within ``timeout`` seconds (retrying while the database is
        down), then stop; returns how many rows could not be written (0: all flushed)."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 1.0)
        writer = self._writer
        if writer is not None:
            writer.join(max(self._deadline - time.monotonic(), 0.0) + 2.0)
        state = self.state()
        return state.queued + (state.dropped - self._dropped)

    @property
    def writer(self) -> WriterProcess | WriterThread | None:
        """Where the rows go once taken off the queue; ``None`` before :meth:`start`."""
        return self._writer

    def state(self) -> LogState:
        writer = self._writer
        progress = Progress(0, 0, 0, None) if writer is None else writer.progress
        return LogState(
            status="ok" if progress.error is None else "unavailable",
            queued=max(self._accepted - progress.done, 0),
            dropped=self._dropped + progress.lost,
            written=progress.written,
            error=progress.error,
        )

    def counts_since_last(self) -> tuple[int, int]:
        """(dropped, written) rows since the previous call: what the Prometheus counters
        ``dockyard_prediction_log_dropped_total`` and ``…_written_total`` add at each of
        the server's metric flushes. Call it from one thread."""
        state = self.state()
        dropped, written = state.dropped - self._reported[0], state.written - self._reported[1]
        self._reported = (state.dropped, state.written)
        return dropped, written

    # -- the shipping thread ---------------------------------------------------------------

    def _ship(self) -> None:
        """Hand what is queued to the writer when a batch is full or every
        :data:`LINGER_SECONDS`, and at close; then tell it to close."""
        writer = self._writer
        assert writer is not None
        while True:
            closing = self._closing.is_set()
            with self._accepting:
                values, self._values = self._values, []
                gathered, self._gathered = self._gathered, {}
                self._unshipped = 0
            if self.on_taken is not None and gathered:
                try:
                    self.on_taken([g.answered for g in gathered.values()])
                except Exception:
                    # A bug in the callback: its rows are still written.
                    logger.exception("prediction log: on_taken failed for %d models", len(gathered))
            if values or gathered:
                writer.send((values, [g.parcel for g in gathered.values()]))
            if closing:
                writer.close(max(self._deadline - time.monotonic(), 0.0))
                return
            self._wake.wait(LINGER_SECONDS)
            self._wake.clear()

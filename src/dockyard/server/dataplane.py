"""The data plane: every prediction, from every protocol, goes through here.

Protocol adapters (:mod:`~dockyard.server.v1` for JSON, the query string and CSV,
:mod:`~dockyard.server.v2` for the Open Inference Protocol, :mod:`~dockyard.server.fastpath`
for single JSON rows in front of the framework; the web pages call the JSON API) decode
their requests into records, text, tensors' columns or a CSV stream, call one method here,
and encode the :class:`~dockyard.predictor.Prediction` they get back. Nothing here knows
about HTTP: the data plane owns

- model lookup by name (and version);
- validation dispatch: records, query-string text, named columns, CSV files;
- the thread policy: up to :data:`INLINE_ROWS` rows on the event loop through the model's
  adaptive :class:`~dockyard.server.batching.Batcher`, more in a worker thread;
- output checks (non-finite outputs are refused, each request on its own);
- counting predictions for ``/metrics``;
- readiness;
- **observers**: after each request (each chunk of a CSV), :meth:`DataPlane.observe` hands a
  :class:`~dockyard.predictor.events.PredictionEvent` to every observer, refused requests
  included. The prediction log is one. This is the one place a new consumer of predictions
  hooks in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from anyio import to_thread

from dockyard.defaults import scoring_threads
from dockyard.errors import DockyardError, FieldError, InvalidInput, PayloadTooLarge
from dockyard.predictor import Prediction, Predictor
from dockyard.predictor.events import Observer, PredictionEvent
from dockyard.predictor.prediction import Inputs
from dockyard.predictor.repository import ModelRepository
from dockyard.server.batching import Batcher
from dockyard.server.metrics import Metrics
from dockyard.settings import Settings

# Requests up to this many rows are predicted on the event loop (batched together): a
# thread hop would cost more than the prediction. Larger ones go to a worker thread so
# the loop stays responsive.
INLINE_ROWS = 32
Columns = list[list[Any]]


@dataclass(slots=True)
class Call:
    """Who asked, how and when: what an observer needs beyond the prediction itself."""

    request_id: str
    entry: str
    """``json``, ``query``, ``csv``, ``v2`` or ``form`` (see ``ENTRY_POINTS``)."""
    time: float
    """Seconds since the epoch when the request arrived."""
    start: float
    """:func:`time.perf_counter` when the request arrived."""


CSV_THREADS = scoring_threads()
"""Threads that score the chunks of one CSV upload together (the models run without the
GIL). Single-row requests keep one thread: ONNX Runtime's own pool stays at one."""

ANSWER_BUDGET_BYTES = 128 * 1024 * 1024
"""Memory one worker may hold in scored CSV answers waiting to be sent, all requests
together. A larger answer, or one arriving while others fill the budget, is scored a second
time as it is sent instead: memory stays bounded whatever clients send, and the CPU a
client can cost stays linear in its upload."""


class AnswerBudget:
    """Bytes of held answers, shared by a worker's threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.limit:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


@dataclass(slots=True)
class HeldAnswer:
    """A scored CSV, in memory (``blocks``), or ``None`` when it must be scored again as it
    is sent. :meth:`release` returns its memory to the budget once it is sent."""

    blocks: list[bytes] | None
    size: int
    budget: AnswerBudget

    def release(self) -> None:
        self.budget.give(self.size)
        self.size, self.blocks = 0, None


class DataPlane:
    def __init__(
        self,
        repository: ModelRepository,
        settings: Settings,
        metrics: Metrics,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.repository = repository
        self.metrics = metrics
        self.max_rows = settings.max_batch_rows
        self.chunk_rows = settings.csv_chunk_rows
        self.escape_formulas = settings.csv_escape_formulas
        self.observers = tuple(observers)
        self.batchers = (
            {p.name: Batcher(p, settings.batch_rows) for p in repository}
            if settings.batch_rows > 1
            else {}
        )
        self.ready = False
        """Whether every model is loaded and the server is not shutting down."""
        self.budget = AnswerBudget(ANSWER_BUDGET_BYTES)

    # -- models ----------------------------------------------------------------------------

    def model(self, name: str, version: str | None = None) -> Predictor:
        """The model called ``name`` (at ``version``, when given); 404 otherwise."""
        return self.repository.get(name, version)

    def find(self, name: str) -> Predictor | None:
        return self.repository.find(name)

    # -- predictions -----------------------------------------------------------------------

    async def predict_records(
        self, predictor: Predictor, records: Sequence[Any], call: Call
    ) -> Prediction:
        """JSON records (objects of feature values) → prediction."""
        self.check_rows(len(records))
        try:
            columns = predictor.validator.records(records)
        except DockyardError as exc:
            self.observe(call, predictor, exc.status_code, None, None)
            raise
        return await self._predict(predictor, columns, len(records), call)

    async def predict_text(
        self, predictor: Predictor, record: Mapping[str, str], call: Call
    ) -> Prediction:
        """One record of text values (a query string) → prediction."""
        try:
            columns = predictor.validator.text_record(record)
        except DockyardError as exc:
            self.observe(call, predictor, exc.status_code, None, None)
            raise
        return await self._predict(predictor, columns, 1, call)

    async def predict_columns(
        self, predictor: Predictor, columns: Mapping[str, Iterable[Any]], rows: int, call: Call
    ) -> Prediction:
        """Named columns of JSON values (decoded tensors) → prediction."""
        self.check_rows(rows)
        try:
            validated = predictor.validator.json_columns(columns)
        except DockyardError as exc:
            self.observe(call, predictor, exc.status_code, None, None)
            raise
        return await self._predict(predictor, validated, rows, call)

    def check_rows(self, rows: int) -> None:
        """The one limit on rows per request, for every protocol."""
        if rows == 0:
            raise InvalidInput([FieldError(None, "no records to predict")])
        if rows > self.max_rows:
            raise PayloadTooLarge(
                f"{rows} records in one request; the limit is {self.max_rows}.",
                hint="Split the batch, or use CSV scoring for large files.",
            )

    async def _predict(
        self, predictor: Predictor, columns: Columns, rows: int, call: Call
    ) -> Prediction:
        try:
            if rows > INLINE_ROWS:
                prediction = await to_thread.run_sync(predictor.predict_columns, columns)
            else:
                batcher = self.batchers.get(predictor.name)
                if batcher is None:
                    prediction = predictor.predict_columns(columns)
                else:
                    prediction = await batcher.predict(columns, rows)
        except DockyardError as exc:
            self.observe(call, predictor, exc.status_code, columns, None)
            raise
        self.count(predictor, prediction)
        self.observe(call, predictor, 200, columns, prediction)
        return prediction

    # -- CSV -------------------------------------------------------------------------------

    def score_csv(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool, call: Call
    ) -> HeldAnswer:
        """Score every row of ``source`` (blocking: run it in a thread), so that any error
        is raised before an answer is sent: a bad line late in a file is still a clean
        error naming it. Each chunk is counted and observed as it is scored, with its
        inputs. The answer is kept in memory while the worker's budget for held answers
        (:data:`ANSWER_BUDGET_BYTES`) allows; past it, it is dropped as it is scored and
        :meth:`rescore_csv` makes it again as it is sent. Nothing is written to disk."""
        held: list[bytes] | None = []
        size = 0
        first_row = 0
        try:
            for block, rows, prediction in self._scored(predictor, source, runtime_column):
                if prediction is not None:
                    self.count(predictor, prediction)
                    self.observe(call, predictor, 200, prediction.inputs, prediction, first_row)
                first_row += rows
                if held is not None:
                    if self.budget.take(len(block)):
                        held.append(block)
                        size += len(block)
                    else:  # too large to hold now: scored again when sent
                        self.budget.give(size)
                        held, size = None, 0
        except BaseException as exc:
            self.budget.give(size)
            if isinstance(exc, DockyardError):
                self.observe(call, predictor, exc.status_code, None, None, first_row)
            raise
        return HeldAnswer(held, size, self.budget)

    def rescore_csv(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> Iterator[bytes]:
        """The answer of a checked ``source`` that was too large to hold, made again as it
        is sent (neither counted nor observed twice)."""
        for block, _, _ in self._scored(predictor, source, runtime_column):
            yield block

    def _scored(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> Iterator[tuple[bytes, int, Prediction | None]]:
        from dockyard.batch.csv import iter_scored  # with the first CSV: off start-up
        from dockyard.batch.runtime_column import runtime_blocks

        blocks = iter_scored(
            predictor,
            source,
            chunk_rows=self.chunk_rows,
            escape_formulas=self.escape_formulas,
            threads=CSV_THREADS,
        )
        return runtime_blocks(blocks, predictor.runtime) if runtime_column else blocks

    # -- what the plane tells others -------------------------------------------------------

    def count(self, predictor: Predictor, prediction: Prediction) -> None:
        self.metrics.count_predictions(
            predictor.name, prediction.outputs, predictor.task != "regression"
        )

    def observe(
        self,
        call: Call,
        predictor: Predictor,
        status: int,
        columns: Inputs | None,
        prediction: Prediction | None,
        first_row: int = 0,
    ) -> None:
        """Tell every observer about one request (or one CSV chunk). The hook for the
        prediction log and any later consumer of predictions."""
        if not self.observers:
            return
        # Positional: once per request, and keywords cost more to pass.
        event = PredictionEvent(
            call.request_id,
            call.entry,
            predictor,
            call.time,
            time.perf_counter() - call.start,
            status,
            columns,
            prediction,
            first_row,
        )
        for observer in self.observers:
            observer(event)


__all__ = ["ANSWER_BUDGET_BYTES", "INLINE_ROWS", "AnswerBudget", "Call", "DataPlane", "HeldAnswer"]

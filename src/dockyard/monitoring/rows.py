"""A :class:`~dockyard.predictor.events.PredictionEvent` as ``predictions`` rows: what the
prediction log writes, with JSON as text (inputs as an object per row, the prediction as a
JSON scalar, the row's whole answer as v1 JSON gives it).

The log's observer hands each answered event to a :class:`Gathered`, which keeps one
predictor's events column by column (a few list appends per event), and
:meth:`Gathered.encode` encodes them all at once in the writer thread: one ``to_json`` over
a stacked score matrix instead of one per request, which costs about half as much CPU per
row as encoding each event alone. :func:`encode_into` encodes one event the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import orjson

from dockyard.monitoring.migrations import rows_from
from dockyard.monitoring.store import EncodedRow
from dockyard.predictor.events import AnsweredRows, PredictionEvent
from dockyard.predictor.prediction import Prediction
from dockyard.predictor.predictor import Predictor

__all__ = ["SLICE_ROWS", "Gathered", "encode_into", "rows_of"]

logger = logging.getLogger("dockyard.monitoring")

SLICE_ROWS = 256
"""Rows :meth:`Gathered.encode` encodes between two chances for the event loop to run."""
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode_into(values: list[Any], event: PredictionEvent, *, inputs: bool = True) -> None:
    """Append the ``predictions`` rows of ``event`` to ``values``, flat (one value a column,
    ``migrations.WIDTH`` a row), with JSON as text: one row per answered row, numbered from
    ``event.first_row``, or one row with the status and no inputs or outputs when the
    request was refused."""
    if answered(event):
        # The writer's bulk encoding, of one event: one way to encode an answered row.
        one = Gathered(event.predictor)
        one.add(event)
        values += one.encoded(0, 1, 0, inputs)
        return
    p = event.predictor
    values += (
        event.request_id,
        event.first_row,
        event.time,
        p.name,
        p.version,
        p.digest,
        p.runtime,
        event.entry,
        event.status,
        event.latency * 1000.0,
        None,
        None,
        None,
    )


def rows_of(event: PredictionEvent, *, inputs: bool = True) -> list[EncodedRow]:
    """The ``predictions`` rows of one event, encoded (see :func:`encode_into`)."""
    values: list[Any] = []
    encode_into(values, event, inputs=inputs)
    return rows_from(values)


def answered(event: PredictionEvent) -> bool:
    """Whether ``event`` has rows with answers (not a refusal)."""
    return event.prediction is not None and event.status == 200


class Gathered:
    """The answered events of one predictor, as the prediction log's observer gathers them:
    each event's request id, first row, row count, time, entry point, latency and whether
    it came with its inputs; the inputs and outputs column by column (an
    :class:`AnsweredRows`, which the drift gauges count); the score blocks.

    Adding an event holds no reference to it, so no event outlives its request.
    """

    __slots__ = ("answered", "events", "rows", "scores")

    def __init__(self, predictor: Predictor) -> None:
        self.answered = AnsweredRows.of(predictor)
        self.events: list[tuple[str, int, int, float, str, float, bool]] = []
        self.scores: list[np.ndarray | None] = []
        self.rows = 0

    def add(self, event: PredictionEvent) -> None:
        """Add an answered event (see :func:`answered`)."""
        prediction = event.prediction
        assert prediction is not None
        count = len(prediction)
        self.events.append(
            (
                event.request_id,
                event.first_row,
                count,
                event.time,
                event.entry,
                event.latency,
                event.columns is not None,
            )
        )
        self.answered.add(event)
        self.scores.append(prediction.probabilities)
        self.rows += count

    def encode(
        self,
        values: list[Any],
        *,
        inputs: bool = True,
        pause: Callable[[], None] = lambda: None,
    ) -> int:
        """Append every gathered row to ``values`` as :func:`encode_into` would encode its
        event, in slices of about :data:`SLICE_ROWS` rows with ``pause()`` between them.
        An event that cannot be encoded is logged and left out, none of its rows written;
        returns how many rows were left out."""
        lost = 0
        start = first = 0  # the slice's first event, and its first row
        rows = 0
        events = self.events
        for end in range(1, len(events) + 1):
            rows += events[end - 1][2]
            if rows < SLICE_ROWS and end < len(events):
                continue
            try:
                values += self.encoded(start, end, first, inputs)
            except Exception:
                # One event's bad value spoils its slice: encode the slice event by event,
                # and leave out only what fails.
                lost += self._one_by_one(values, start, end, first, inputs)
            start, first, rows = end, first + rows, 0
            pause()
        return lost

    def _one_by_one(self, values: list[Any], start: int, end: int, first: int, inputs: bool) -> int:
        lost = 0
        for index in range(start, end):
            count = self.events[index][2]
            try:
                values += self.encoded(index, index + 1, first, inputs)
            except Exception:
                # A bug, not the database: the event's rows are counted lost, the log goes on.
                logger.exception("prediction log: cannot record request %s", self.events[index][0])
                lost += count
            first += count
        return lost

    def encoded(self, start: int, end: int, first: int, inputs: bool) -> list[Any]:
        """The rows of events ``start`` to ``end``, whose first row is ``first`` of all."""
        events = self.events[start:end]
        stop = first + sum(e[2] for e in events)
        p = self.answered.predictor
        blocks = self.scores[start:end]
        scores: np.ndarray | None = None
        if any(block is not None for block in blocks):
            if any(block is None for block in blocks):
                raise ValueError("some of the events have scores and some do not")
            scores = np.concatenate(blocks)  # type: ignore[arg-type]
        answers = p.to_json(Prediction(self.answered.outputs[first:stop], scores))
        if len(answers) != stop - first:
            raise ValueError(f"{len(answers)} answers for {stop - first} rows")
        records: Sequence[str | None] = (
            _records(p.feature_names, [column[first:stop] for column in self.answered.columns])
            if inputs
            else [None] * len(answers)
        )
        key = _answer_key(p)
        dumps = orjson.dumps
        head = (p.name, p.version, p.digest, p.runtime)
        out: list[Any] = []
        at = 0
        for request_id, first_row, count, time, entry, latency, has_inputs in events:
            latency_ms = latency * 1000.0
            row = first_row
            for index in range(at, at + count):
                answer = answers[index]
                out += (
                    request_id,
                    row,
                    time,
                    *head,
                    entry,
                    200,
                    latency_ms,
                    records[index] if has_inputs else None,
                    dumps(answer[key], option=_NUMPY).decode(),
                    dumps(answer, option=_NUMPY).decode(),
                )
                row += 1
            at += count
        return out


def _records(names: Sequence[str], columns: Iterable[Iterable[Any]]) -> list[str]:
    """Each row's inputs as a JSON object."""
    dumps = orjson.dumps
    return [
        dumps(dict(zip(names, row, strict=True)), option=_NUMPY).decode()
        for row in zip(*columns, strict=True)
    ]


def _answer_key(p: Predictor) -> str:
    """The key of a row's answer that the ``prediction`` column holds."""
    if p.unsupervised is not None:
        return p.unsupervised.label_key
    return "value" if p.task == "regression" else "label"

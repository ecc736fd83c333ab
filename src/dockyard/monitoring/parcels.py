"""One model's gathered predictions as the prediction log's writer encodes them: a
:class:`Parcel` holds them column by column, without the model, so that it pickles small and
fast to the writer process (:mod:`.writer`), which turns it into ``predictions`` rows with
JSON as text (inputs as an object per row, the prediction as a JSON scalar, the row's whole
answer as v1 JSON gives it).

This module imports no model runtime: the writer process loads numpy and orjson, not
scikit-learn or ONNX Runtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from dockyard.predictor.outputs import Answers, object_template

if TYPE_CHECKING:
    from dockyard.predictor.predictor import Predictor

__all__ = ["SLICE_ROWS", "Parcel", "RowFormat"]

logger = logging.getLogger("dockyard.monitoring")

SLICE_ROWS = 256
"""Rows :meth:`Parcel.encode` encodes between two calls of its ``pause``."""
_NUMPY = orjson.OPT_SERIALIZE_NUMPY

Event = tuple[str, int, int, float, str, float, bool]
"""One answered request (or CSV chunk): request id, first row, row count, time, entry
point, latency in seconds, and whether its inputs came with it."""


@dataclass(frozen=True, slots=True)
class RowFormat:
    """What encoding one model's rows takes: the columns every row repeats, the features'
    names and how the model answers."""

    head: tuple[str, str, str, str]
    """Model name, version, bundle sha256 and runtime."""
    feature_names: tuple[str, ...]
    answers: Answers

    @classmethod
    def of(cls, p: Predictor) -> RowFormat:
        return cls((p.name, p.version, p.digest, p.runtime), tuple(p.feature_names), p.answers)


@dataclass(slots=True)
class Parcel:
    """The answered events of one model, column by column: the events (:data:`Event`),
    each feature's values (``None`` for rows that came without their inputs), the outputs
    and each event's score block (``None`` when the model has no scores); once pickled, the
    score blocks of two or more events are one block of all the rows."""

    format: RowFormat
    events: list[Event]
    columns: list[list[Any]]
    outputs: list[Any]
    scores: list[np.ndarray | None]

    @property
    def rows(self) -> int:
        return len(self.outputs)

    def __getstate__(self) -> tuple[Any, ...]:
        # One matrix, not an array per event: pickling thousands of small arrays costs
        # more than all the rest of a parcel. It arrives as one block of all the rows.
        return self.format, self.events, self.columns, self.outputs, self._stacked()

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.format, self.events, self.columns, self.outputs, self.scores = state

    def _stacked(self) -> list[np.ndarray | None]:
        blocks = self.scores
        if len(blocks) > 1 and blocks[0] is not None:
            # Blocks of one width stack; a None among them (a model without scores) or
            # blocks of other widths do not, and go as they are. (Asking numpy costs less
            # than checking thousands of blocks first.)
            try:
                return [np.concatenate(blocks)]  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass
        return blocks

    def _scores(self, start: int, end: int, first: int, stop: int) -> np.ndarray | None:
        """The score rows ``first`` to ``stop``, of events ``start`` to ``end``."""
        blocks = self.scores
        if len(blocks) == 1 and len(self.events) > 1:  # stacked
            block = blocks[0]
            return None if block is None else block[first:stop]
        blocks = blocks[start:end]
        if all(block is None for block in blocks):
            return None
        if any(block is None for block in blocks):
            raise ValueError("some of the events have scores and some do not")
        return np.concatenate(blocks)  # type: ignore[arg-type]

    def encode(
        self, values: list[Any], *, inputs: bool = True, pause: Callable[[], None] = lambda: None
    ) -> int:
        """Append every row to ``values``, flat (``migrations.WIDTH`` values a row), in
        slices of about :data:`SLICE_ROWS` rows with ``pause()`` between them. An event
        that cannot be encoded is logged and left out, none of its rows written; returns
        how many rows were left out."""
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
        """The rows of events ``start`` to ``end``, whose first row is ``first`` of all.

        The JSON is written column by column (a column of numbers is one ``orjson.dumps``,
        split at its commas) and put together by %-templates: the text orjson gives each
        row's objects, for less CPU than building and dumping every object."""
        events = self.events[start:end]
        stop = first + sum(e[2] for e in events)
        form = self.format
        answers = form.answers
        scores = self._scores(start, end, first, stop)
        predictions = _texts(answers.predictions(self.outputs[first:stop]))
        template = answers.template(scores is not None)
        if scores is None:
            outputs = [template % (p,) for p in predictions]
        else:
            if scores.shape[0] != len(predictions):
                raise ValueError(f"{scores.shape[0]} score rows for {len(predictions)} rows")
            outputs = [
                template % (p, *row)
                for p, row in zip(predictions, _rows(scores.tolist()), strict=True)
            ]
        records: Sequence[str | None] = (
            _records(form.feature_names, [column[first:stop] for column in self.columns])
            if inputs
            else [None] * len(outputs)
        )
        head = form.head
        out: list[Any] = []
        at = 0
        for request_id, first_row, count, time, entry, latency, has_inputs in events:
            latency_ms = latency * 1000.0
            row = first_row
            for index in range(at, at + count):
                out += (
                    request_id,
                    row,
                    time,
                    *head,
                    entry,
                    200,
                    latency_ms,
                    records[index] if has_inputs else None,
                    predictions[index],
                    outputs[index],
                )
                row += 1
            at += count
        return out


def _texts(values: Sequence[Any]) -> list[str]:
    """Each value as the JSON text orjson gives it alone: dumped all at once and split at
    the commas, or one by one when a value's text holds a comma (a string, a list)."""
    if values:
        parts = orjson.dumps(values, option=_NUMPY).decode()[1:-1].split(",")
        # Each value gives one part at least: as many parts as values, and none held one.
        if len(parts) == len(values):
            return parts
    dumps = orjson.dumps
    return [dumps(value, option=_NUMPY).decode() for value in values]


def _rows(matrix: list[list[float]]) -> list[list[str]]:
    """Each row of a score matrix as the JSON text of each of its numbers."""
    if not matrix:
        return []
    text = orjson.dumps(matrix).decode()
    return [row.split(",") for row in text[2:-2].split("],[")]


def _records(names: Sequence[str], columns: Sequence[Sequence[Any]]) -> list[str]:
    """Each row's inputs as the JSON object orjson writes of ``dict(zip(names, row))``."""
    template = object_template(names)
    return [template % row for row in zip(*(_texts(column) for column in columns), strict=True)]

"""A :class:`~dockyard.predictor.events.PredictionEvent` as ``predictions`` rows: what the
prediction log writes, with JSON as text (inputs as an object per row, the prediction as a
JSON scalar, the row's whole answer as v1 JSON gives it)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import orjson

from dockyard.monitoring.migrations import rows_from
from dockyard.monitoring.store import EncodedRow
from dockyard.predictor.events import PredictionEvent

__all__ = ["encode_into", "rows_of"]


def encode_into(values: list[Any], event: PredictionEvent, *, inputs: bool = True) -> None:
    """Append the ``predictions`` rows of ``event`` to ``values``, flat (one value a column,
    ``migrations.WIDTH`` a row), with JSON as text: one row per answered row, numbered from
    ``event.first_row``, or one row with the status and no inputs or outputs when the
    request was refused."""
    p = event.predictor
    request_id, at, latency_ms = event.request_id, event.time, event.latency * 1000.0
    head = (p.name, p.version, p.digest, p.runtime, event.entry, event.status, latency_ms)
    if event.prediction is None or event.status != 200:
        values += (request_id, event.first_row, at, *head, None, None, None)
        return
    answers = p.to_json(event.prediction)
    key = (
        p.unsupervised.label_key
        if p.unsupervised is not None
        else "value"
        if p.task == "regression"
        else "label"
    )
    dumps, option = orjson.dumps, orjson.OPT_SERIALIZE_NUMPY
    records: Iterable[str | None]
    if inputs and event.columns is not None:
        names = p.feature_names
        records = [
            dumps(dict(zip(names, row, strict=True)), option=option).decode()
            for row in zip(*event.columns, strict=True)
        ]
    else:
        records = itertools.repeat(None, len(answers))
    row = event.first_row
    for record, answer in zip(records, answers, strict=True):
        values += (
            request_id,
            row,
            at,
            *head,
            record,
            dumps(answer[key], option=option).decode(),
            dumps(answer, option=option).decode(),
        )
        row += 1


def rows_of(event: PredictionEvent, *, inputs: bool = True) -> list[EncodedRow]:
    """The ``predictions`` rows of one event, encoded (see :func:`encode_into`)."""
    values: list[Any] = []
    encode_into(values, event, inputs=inputs)
    return rows_from(values)

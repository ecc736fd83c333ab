"""A :class:`~dockyard.predictor.events.PredictionEvent` as ``predictions`` rows: what the
prediction log writes, with JSON as text (inputs as an object per row, the prediction as a
JSON scalar, the row's whole answer as v1 JSON gives it).

The log's observer hands each answered event to a :class:`Gathered`, which keeps one
predictor's events column by column (a few list appends per event); the writer encodes its
:class:`~dockyard.monitoring.parcels.Parcel` all at once, column by column over a stacked
score matrix, which costs a fraction of the CPU per row of encoding each event alone.
:func:`encode_into` encodes one event the same way.
"""

from __future__ import annotations

from typing import Any

from dockyard.monitoring.migrations import rows_from
from dockyard.monitoring.parcels import Parcel, RowFormat
from dockyard.monitoring.store import EncodedRow
from dockyard.predictor.events import AnsweredRows, PredictionEvent, answered
from dockyard.predictor.predictor import Predictor

__all__ = ["Gathered", "encode_into", "rows_of"]


def encode_into(values: list[Any], event: PredictionEvent, *, inputs: bool = True) -> None:
    """Append the ``predictions`` rows of ``event`` to ``values``, flat (one value a column,
    ``migrations.WIDTH`` a row), with JSON as text: one row per answered row, numbered from
    ``event.first_row``, or one row with the status and no inputs or outputs when the
    request was refused."""
    if answered(event):
        # The writer's bulk encoding, of one event: one way to encode an answered row.
        one = Gathered(event.predictor)
        one.add(event)
        values += one.parcel.encoded(0, 1, 0, inputs)
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


class Gathered:
    """The answered events of one predictor, as the prediction log's observer gathers them
    on the request path (a few list appends per event): the inputs and outputs column by
    column (an :class:`AnsweredRows`, which the drift gauges count) and, sharing those
    lists, the :class:`Parcel` the writer encodes.

    Adding an event holds no reference to it, so no event outlives its request.
    """

    __slots__ = ("answered", "parcel")

    def __init__(self, predictor: Predictor) -> None:
        self.answered = AnsweredRows.of(predictor)
        self.parcel = Parcel(
            RowFormat.of(predictor), [], self.answered.columns, self.answered.outputs, []
        )

    @property
    def rows(self) -> int:
        return len(self.answered.outputs)

    def add(self, event: PredictionEvent) -> None:
        """Add an answered event (see :func:`answered`): one tuple and the event's rows,
        on the event loop once per request."""
        prediction = event.prediction
        assert prediction is not None
        outputs = prediction.outputs
        columns = event.columns
        self.parcel.events.append(
            (
                event.request_id,
                event.first_row,
                len(outputs),
                event.time,
                event.entry,
                event.latency,
                columns is not None,
            )
        )
        self.answered.extend(columns, outputs)
        self.parcel.scores.append(prediction.probabilities)

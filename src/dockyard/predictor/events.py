"""What the data plane tells its observers about each request it served.

The data plane (:mod:`dockyard.server.dataplane`) builds one :class:`PredictionEvent` per
request, or per chunk of a CSV upload, after the answer is known, and hands it to every
observer (the prediction log is one). Building it costs a few attribute stores: turning it
into rows, JSON or database records is the observer's work, off the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.predictor.prediction import Inputs, Prediction
from dockyard.predictor.predictor import Predictor

ENTRY_POINTS = ("json", "query", "csv", "v2", "form")
"""How a prediction arrived: v1 JSON, v1 query string, CSV upload, the Open Inference
Protocol, or the web form (which calls the JSON API and says so)."""


# Not frozen: a frozen dataclass's __init__ costs three times as much, and one is built per
# request. Nothing changes an event once it is built.
@dataclass(slots=True)
class PredictionEvent:
    """One request's predictions, or its refusal.

    ``columns`` are the validated inputs, one sequence per feature in
    ``predictor.feature_names`` order (for CSV's numeric fast path, the rows of a float
    array), or ``None`` when the request was refused before its rows were validated; ``prediction`` is ``None`` when it was refused. ``first_row`` is
    the 0-based number of the first row within the request (CSV chunks after the first).
    ``status`` is the HTTP status of the answer (200, or the error's status).
    """

    request_id: str
    entry: str
    predictor: Predictor
    time: float
    """Seconds since the epoch when the request arrived."""
    latency: float
    """Seconds from arrival to the answer."""
    status: int
    columns: Inputs | None
    prediction: Prediction | None
    first_row: int = 0


def answered(event: PredictionEvent) -> bool:
    """Whether ``event`` has rows with answers (not a refusal)."""
    return event.prediction is not None and event.status == 200


@dataclass(slots=True)
class AnsweredRows:
    """The answered rows of one model gathered from many events, column by column: each
    feature's values in ``predictor.feature_names`` order (``None`` for a row that came
    without its inputs, as CSV chunks do) and the outputs.

    What the live drift gauges count. The prediction log gathers it as it observes the
    events, so that no event outlives its request: thousands of events held for the writer
    thread made every garbage collection of the event loop's longer."""

    predictor: Predictor
    columns: list[list[Any]]
    outputs: list[Any]

    @classmethod
    def of(cls, predictor: Predictor) -> AnsweredRows:
        return cls(predictor, [[] for _ in predictor.feature_names], [])

    def add(self, event: PredictionEvent) -> None:
        """Add ``event``'s rows if it was answered (refusals are left out)."""
        if answered(event):
            assert event.prediction is not None
            self.extend(event.columns, event.prediction.outputs)

    def extend(self, columns: Inputs | None, outputs: list[Any]) -> None:
        """Add answered rows: their inputs (``None`` when they came without them) and
        their outputs."""
        if columns is None:
            missing = [None] * len(outputs)
            for values in self.columns:
                values.extend(missing)
        else:
            for values, column in zip(self.columns, columns, strict=True):
                values.extend(column)
        self.outputs.extend(outputs)

    @classmethod
    def gather(cls, found: dict[str, AnsweredRows], event: PredictionEvent) -> None:
        """Add ``event``'s rows to its model's entry of ``found`` (made when missing)."""
        rows = found.get(event.predictor.name)
        if rows is None:
            rows = found[event.predictor.name] = cls.of(event.predictor)
        rows.add(event)

    @classmethod
    def by_model(cls, events: Iterable[PredictionEvent]) -> list[AnsweredRows]:
        """The answered rows of ``events``, one :class:`AnsweredRows` per model."""
        found: dict[str, AnsweredRows] = {}
        for event in events:
            cls.gather(found, event)
        return list(found.values())


Observer = Callable[[PredictionEvent], None]
"""Called on the event loop once per event; must not block (queue and return)."""

__all__ = ["ENTRY_POINTS", "AnsweredRows", "Observer", "PredictionEvent", "answered"]

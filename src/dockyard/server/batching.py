"""Adaptive batching: small requests that arrive together are predicted in one call.

A model call has a fixed cost that dwarfs a single row's arithmetic: about 100 µs for
ONNX Runtime once a server's network work has pushed its code out of the CPU caches
(6 µs when it is warm), far more for scikit-learn. Under load, a worker's event loop
starts several requests in the same turn; each one validates its input and queues its
rows here, and the first one schedules a flush for the next turn. The flush runs the
queued rows through the model in as few calls as ``max_rows`` allows and hands each
request its own slice. An idle server answers a lone request one loop turn later:
nothing waits on a timer, so batching never adds latency that load does not pay for.

Each request's outputs are checked on their own (a non-finite output is that request's
422, with its own row numbers), and if a batched call fails, every request in it is
retried alone, so one request's error never becomes another's. ONNX Runtime computes in
float32: a row's probabilities can differ in the 7th significant digit depending on
what it was batched with, as they do between batch sizes anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from itertools import chain
from typing import Any

from dockyard.predictor import Prediction, Predictor

Columns = list[list[Any]]


class _Waiting:
    __slots__ = ("columns", "future", "rows")

    def __init__(self, columns: Columns, rows: int, future: asyncio.Future[Prediction]) -> None:
        self.columns = columns
        self.rows = rows
        self.future = future


class Batcher:
    """Queues validated columns for one predictor; see the module docstring."""

    def __init__(self, predictor: Predictor, max_rows: int) -> None:
        self.predictor = predictor
        self.max_rows = max_rows
        self._waiting: list[_Waiting] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self.calls = 0
        """Model calls made so far (for tests and curiosity)."""

    async def predict(self, columns: Columns, rows: int) -> Prediction:
        """``columns``: validated, ``rows`` (at least one) long."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests): a flush due on the old one is gone
            self._loop, self._waiting, self._scheduled = loop, [], False
        future: asyncio.Future[Prediction] = loop.create_future()
        self._waiting.append(_Waiting(columns, rows, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        group: list[_Waiting] = []
        rows = 0
        for item in waiting:
            if group and rows + item.rows > self.max_rows:
                self._settle_group(group)
                group, rows = [], 0
            group.append(item)
            rows += item.rows
        if group:
            self._settle_group(group)

    def _settle_group(self, group: list[_Waiting]) -> None:
        # A loop callback's exception would only be logged, leaving the requests waiting:
        # whatever goes wrong becomes each unanswered request's error (a 500).
        try:
            self._run(group)
        except Exception as exc:
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)

    def _run(self, group: list[_Waiting]) -> None:
        predictor = self.predictor
        self.calls += 1
        if len(group) == 1:
            item = group[0]
            _settle(item.future, predictor.predict_columns, item.columns)
            return
        merged = [
            list(chain.from_iterable(item.columns[i] for item in group))
            for i in range(len(group[0].columns))
        ]
        try:
            outputs, probabilities = predictor.compute(merged)
        except Exception:
            # Someone's input broke the call: each request again, alone, for its own answer.
            self.calls += len(group)
            for item in group:
                _settle(item.future, predictor.predict_columns, item.columns)
            return
        start = 0
        if not predictor.all_finite(outputs, probabilities):
            # Some request's rows came out NaN or infinite: each checked alone, for its
            # own error with its own row numbers.
            for item in group:
                end = start + item.rows
                part = None if probabilities is None else probabilities[start:end]
                _settle(item.future, predictor.finish, outputs[start:end], part)
                start = end
            return
        values = outputs.tolist()
        for item in group:
            end = start + item.rows
            if not item.future.done():
                part = None if probabilities is None else probabilities[start:end]
                item.future.set_result(Prediction(values[start:end], part))
            start = end


def _settle(future: asyncio.Future[Prediction], fn: Callable[..., Prediction], *args: Any) -> None:
    if future.done():  # the request was cancelled while it waited
        return
    try:
        future.set_result(fn(*args))
    except Exception as exc:
        future.set_exception(exc)


__all__ = ["Batcher"]

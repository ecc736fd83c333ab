"""Live drift in ``/metrics``: each served model's recent inputs and predictions against its
training reference, as a population stability index per feature.

:class:`LiveDistributions` counts the values of recent rows in the reference's own bins
(:mod:`dockyard.bundle.bins`, which ``dockyard monitor`` uses too, so a gauge and the
monitor's PSI agree on the same rows): numbers by the reference's edges, categories by
their key (values the reference never saw pooled), texts by the edges of their lengths,
and the predictions. It is fed by the prediction log's shipping thread, the rows of many
events at a time (:attr:`PredictionLog.on_taken <dockyard.monitoring.log.PredictionLog>`,
:class:`~dockyard.predictor.events.AnsweredRows`), never on the request path; so without a
prediction log there are no drift gauges.

The window is the most recent ``window_rows`` rows, kept as a ring of :data:`SLOTS`
chunks of ``window_rows / SLOTS`` rows' counts: when the open chunk is full it is sealed,
and when the next one opens the oldest sealed chunk leaves the window. The window thus
holds between 90 % and all of ``window_rows`` rows once that many were served; it costs :data:`SLOTS` count arrays
per feature (not one entry per row, as an exact sliding window would) and ages by rows,
not time: a model that gets no traffic keeps its last window. Only answered rows count;
a row observed without its inputs (the data plane sends none for CSV chunks) counts for
the predictions, and for no feature.

numpy and the standard library only: the server imports this module.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from dockyard.bundle.bins import (
    bin_count,
    category_bins,
    folded_key,
    lengths_of,
    live_bins,
    numbers_of,
    psi,
    reference_counts,
)
from dockyard.bundle.metadata import BinnedReference, DistributionReference, Reference
from dockyard.predictor.events import AnsweredRows, PredictionEvent
from dockyard.predictor.predictor import Predictor

if TYPE_CHECKING:
    from dockyard.monitoring.log import PredictionLog

logger = logging.getLogger("dockyard.monitoring")

DEFAULT_WINDOW_ROWS: Final = 10_000
"""Rows behind each drift gauge by default (``LiveDistributions(window_rows=...)``)."""
SLOTS: Final = 10
"""Chunks the window is kept in: it ages out a tenth of its rows at a time."""


@dataclass(frozen=True, slots=True)
class ModelDrift:
    """One model's live window against its reference, as ``/metrics`` shows it."""

    rows: int
    """Answered rows in the window."""
    features: dict[str, float]
    """PSI of each feature that has values in the window (missing values are left out)."""
    prediction: float | None
    """PSI of the predictions; ``None`` while the window is empty."""


class _Cells:
    """The cells one distribution's live values are counted in, and its reference's counts."""

    def __init__(self, reference: DistributionReference) -> None:
        self.binned = isinstance(reference, BinnedReference)
        self.text = reference.kind == "text"
        if isinstance(reference, BinnedReference):
            self.edges = reference.edges
            self.size = bin_count(reference.edges)
            self.reference = reference_counts(reference.edges, reference.counts)
        else:
            self.counts = reference.counts
            bins = category_bins(reference.counts)
            self.index = {key: i for i, key in enumerate(bins)}
            self.size = len(bins)
            self.reference = [reference.counts.get(b, 0) for b in bins]

    def of(self, values: list[Any]) -> np.ndarray:
        """The cell of each value, -1 for a value left out (missing, or not a number)."""
        if self.binned:
            numbers = lengths_of(values) if self.text else numbers_of(values)
            cells: np.ndarray = np.full(len(numbers), -1, dtype=np.intp)
            finite = np.isfinite(numbers)
            cells[finite] = live_bins(self.edges, numbers[finite])
            return cells
        # Counted by distinct value. Values of one type (labels, mostly) are their own
        # keys; of several, typed pairs keep True apart from 1.
        typed = len(set(map(type, values))) > 1
        keys: list[Any] = list(zip(map(type, values), values, strict=True)) if typed else values
        lookup: dict[Any, int] = {}
        for key in set(keys):
            cell = folded_key(key[1] if typed else key, self.counts)
            lookup[key] = -1 if cell is None else self.index[cell]
        return np.fromiter(map(lookup.__getitem__, keys), dtype=np.intp, count=len(keys))


class _Window:
    """Counts per cell of the open chunk and the last sealed ones (see the module)."""

    def __init__(self, sizes: Sequence[int], chunk_rows: int) -> None:
        self.sizes = list(sizes)
        self.chunk_rows = chunk_rows
        self.sealed: deque[tuple[list[np.ndarray], int]] = deque()
        self.open = self._empty()
        self.open_rows = 0
        self.totals = self._empty()
        self.rows = 0

    def _empty(self) -> list[np.ndarray]:
        return [np.zeros(size, dtype=np.int64) for size in self.sizes]

    def add(self, cells: Sequence[np.ndarray], rows: int) -> None:
        """Count ``rows`` rows, ``cells[i]`` holding each row's cell of distribution ``i``."""
        start = 0
        while start < rows:
            if self.open_rows == 0 and len(self.sealed) == SLOTS:
                # A new chunk opens: the oldest leaves (so a full window holds all N rows).
                oldest, oldest_rows = self.sealed.popleft()
                for i, counts in enumerate(oldest):
                    self.totals[i] -= counts
                self.rows -= oldest_rows
            take = min(rows - start, self.chunk_rows - self.open_rows)
            for i, column in enumerate(cells):
                part = column[start : start + take]
                counts = np.bincount(part[part >= 0], minlength=self.sizes[i])
                self.open[i] += counts
                self.totals[i] += counts
            self.open_rows += take
            self.rows += take
            start += take
            if self.open_rows == self.chunk_rows:
                self.sealed.append((self.open, self.open_rows))
                self.open, self.open_rows = self._empty(), 0


class _Model:
    """One model's distributions: its features (in column order) and its predictions."""

    def __init__(self, predictor: Predictor, reference: Reference, window_rows: int) -> None:
        positions = {name: i for i, name in enumerate(predictor.feature_names)}
        self.features = [
            (name, positions[name], _Cells(ref))
            for name, ref in reference.features.items()
            if name in positions
        ]
        self.prediction = _Cells(reference.prediction)
        cells = [c for _, _, c in self.features] + [self.prediction]
        self.window = _Window([c.size for c in cells], max(1, math.ceil(window_rows / SLOTS)))

    def cells(self, answered: AnsweredRows) -> tuple[list[np.ndarray], int]:
        """The cell of each of ``answered``'s rows in each distribution, and the rows."""
        cells = [c.of(answered.columns[position]) for _, position, c in self.features]
        cells.append(self.prediction.of(answered.outputs))
        return cells, len(answered.outputs)

    def drift(self) -> ModelDrift:
        totals = self.window.totals
        features = {
            name: psi(cells.reference, live)
            for (name, _, cells), live in zip(self.features, totals[:-1], strict=True)
            if live.sum() > 0
        }
        live = totals[-1]
        prediction = psi(self.prediction.reference, live) if live.sum() > 0 else None
        return ModelDrift(self.window.rows, features, prediction)


class LiveDistributions:
    """Each model's recent inputs and predictions in its training reference's bins.

    Models without a reference (bundles saved before schema 4) are left out, with one log
    line each. :meth:`count` is the prediction log's ``on_taken`` callback (its writer
    thread); :meth:`drift` is read at each metrics flush, from another thread.
    """

    def __init__(
        self, predictors: Iterable[Predictor], *, window_rows: int = DEFAULT_WINDOW_ROWS
    ) -> None:
        if window_rows < 1:
            raise ValueError(f"window_rows must be at least 1, not {window_rows}")
        self.window_rows = window_rows
        self._models: dict[str, _Model] = {}
        for predictor in predictors:
            reference = predictor.metadata.reference
            if reference is None:
                logger.warning(
                    "drift gauges: %s %s has no training reference (saved before bundle "
                    "schema 4); save it again with this Dockyard to see its drift in /metrics",
                    predictor.name,
                    predictor.version,
                )
                continue
            self._models[predictor.name] = _Model(predictor, reference, window_rows)
        self._lock = threading.Lock()

    @classmethod
    def fed_by(
        cls,
        log: PredictionLog,
        predictors: Iterable[Predictor],
        *,
        window_rows: int = DEFAULT_WINDOW_ROWS,
    ) -> LiveDistributions:
        """The distributions of ``predictors``, counted by ``log``'s shipping thread."""
        live = cls(predictors, window_rows=window_rows)
        log.on_taken = live.count
        return live

    @property
    def models(self) -> list[str]:
        """The models that have drift gauges."""
        return list(self._models)

    def observe(self, events: Iterable[PredictionEvent]) -> None:
        """Count the answered rows of ``events`` in their model's window."""
        self.count(AnsweredRows.by_model(events))

    def count(self, answered: Iterable[AnsweredRows]) -> None:
        """Count answered rows, gathered per model, in their model's window (the
        prediction log's ``on_taken`` callback)."""
        for rows in answered:
            model = self._models.get(rows.predictor.name)
            if model is None or not rows.outputs:
                continue
            # Binning (the work) outside the lock: a flush waits only for the additions.
            cells, count = model.cells(rows)
            with self._lock:
                model.window.add(cells, count)

    def drift(self) -> dict[str, ModelDrift]:
        """Each model's PSI per feature and of its predictions over its current window."""
        with self._lock:
            return {name: model.drift() for name, model in self._models.items()}

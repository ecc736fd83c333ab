"""What a model answers for a batch, before any protocol encodes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

Inputs: TypeAlias = Sequence[Sequence[Any]] | np.ndarray
"""Validated inputs: one sequence per feature in model order (an array's rows)."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """Model output for a batch: labels (or values) and, for classifiers, probabilities;
    for clustering and outlier bundles, clusters or inlier/outlier and their scores
    (see :mod:`dockyard.predictor.outputs`)."""

    outputs: list[Any]
    probabilities: np.ndarray | None
    inputs: Inputs | None = None
    """The validated inputs the outputs were computed from, one sequence per feature in
    model order (an array's rows, for the numeric fast path), when the predictor had them
    at hand: held by reference, never copied. CSV scoring hands them on to the data
    plane's observers this way."""

    def __len__(self) -> int:
        return len(self.outputs)


__all__ = ["Inputs", "Prediction"]

"""What a model answers for a batch, before any protocol encodes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Prediction:
    """Model output for a batch: labels (or values) and, for classifiers, probabilities;
    for clustering and outlier bundles, clusters or inlier/outlier and their scores
    (see :mod:`dockyard.predictor.outputs`)."""

    outputs: list[Any]
    probabilities: np.ndarray | None

    def __len__(self) -> int:
        return len(self.outputs)


__all__ = ["Prediction"]

"""What a bundle's evaluation saw, handed from saving to the report that draws it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class EvaluationData:
    """What the evaluation saw, for reports: true and predicted targets on held-out rows."""

    X: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray
    method: str
    scores: np.ndarray | None = None
    """Outlier bundles: each row's score; ``y_true`` is empty for models without a target."""
    metrics: dict[str, float] | None = None
    """Clustering and outlier bundles: the metrics computed when they were evaluated."""

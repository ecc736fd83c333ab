"""BentoML's Iris quickstart, serving the benchmark's model (``BENCH_BENTO_MODEL`` tag).

The request is the quickstart's shape: ``{"input_series": [[5.1, 3.5, 1.4, 0.2]]}``.
"""

from __future__ import annotations

import os
import warnings

import bentoml
import numpy as np

# The pickle was fitted on a DataFrame; the quickstart passes arrays. The result is the
# same, and the warning would otherwise be raised on every request.
warnings.filterwarnings("ignore", message="X does not have valid feature names")

WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))


@bentoml.service(workers=WORKERS)
class IrisClassifier:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(os.environ["BENCH_BENTO_MODEL"])

    @bentoml.api
    def classify(self, input_series: np.ndarray) -> dict:
        return {
            "labels": self.model.predict(input_series).tolist(),
            "probabilities": self.model.predict_proba(input_series).tolist(),
        }

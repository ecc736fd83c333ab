"""One small real model per unsupervised family: clustering and novelty detection on Iris's
features, saved with ``y=None`` (see ``unsupervised_bundles`` in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import dockyard

# A row in the middle of setosa: an inlier, in the setosa cluster.
INLIER = {"sepal_length": 5.0, "sepal_width": 3.4, "petal_length": 1.5, "petal_width": 0.2}
# Far from every flower, yet inside each feature's training range.
OUTLIER = {"sepal_length": 7.9, "sepal_width": 2.0, "petal_length": 1.0, "petal_width": 2.5}


def iris_features() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    frame: pd.DataFrame = load_iris(as_frame=True).data
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return frame


def models() -> dict[str, tuple[Any, bool]]:
    """Bundle name → (unfitted model, whether it is fitted on the DataFrame)."""
    from sklearn.cluster import KMeans
    from sklearn.ensemble import IsolationForest
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import LocalOutlierFactor

    return {
        "segments": (KMeans(n_clusters=3, n_init=3, random_state=0), True),
        "mixture": (GaussianMixture(n_components=3, random_state=0), False),
        "anomalies": (IsolationForest(n_estimators=25, random_state=0), True),
        "novelty": (LocalOutlierFactor(n_neighbors=10, novelty=True), False),
    }


def save_unsupervised(root: Path) -> dict[str, Path]:
    X = iris_features()
    paths: dict[str, Path] = {}
    for name, (model, frame_input) in models().items():
        model.fit(X if frame_input else X.to_numpy())
        paths[name] = root / name
        dockyard.save_bundle(model, X, None, name=name, path=paths[name])
    return paths

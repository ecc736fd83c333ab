"""The tutorial's training script: fit on the Iris DataFrame and pickle the model.

Kept deliberately classic (pandas in, pickle out); the benchmark imports ``load_data`` and
``build_model`` from here so every server in it serves the same estimator.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SEED = 42


def load_data() -> tuple[pd.DataFrame, pd.Series]:
    iris = load_iris()
    X = pd.DataFrame(iris.data, columns=FEATURES)
    y = pd.Series([str(iris.target_names[t]) for t in iris.target], name="species")
    return X, y


def build_model(kind: str) -> Any:
    if kind == "lr":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=100, random_state=SEED)
    raise SystemExit(f"unknown model kind {kind!r}: lr or rf")


if __name__ == "__main__":
    kind, out = sys.argv[1], sys.argv[2]
    X, y = load_data()
    model = build_model(kind).fit(X, y)
    with open(out, "wb") as fh:
        pickle.dump(model, fh)

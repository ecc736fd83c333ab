"""Run in the MLflow venv: save the tutorial pickle as an MLflow model directory."""

from __future__ import annotations

import pickle
import sys

import mlflow.sklearn

if __name__ == "__main__":
    source, out = sys.argv[1], sys.argv[2]
    with open(source, "rb") as fh:
        model = pickle.load(fh)
    mlflow.sklearn.save_model(model, out, serialization_format="cloudpickle")

"""Run in the BentoML venv: import the tutorial pickle into BentoML's model store."""

from __future__ import annotations

import pickle
import sys

import bentoml

if __name__ == "__main__":
    source, tag = sys.argv[1], sys.argv[2]
    with open(source, "rb") as fh:
        model = pickle.load(fh)
    bentoml.sklearn.save_model(tag, model)

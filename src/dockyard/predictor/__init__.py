"""The predictor: the one data plane every entry point calls."""

from __future__ import annotations

from dockyard.predictor.predictor import Prediction, Predictor, label_text
from dockyard.predictor.validation import Validator

__all__ = ["Prediction", "Predictor", "Validator", "label_text"]

"""The predictor: the one data plane every entry point calls."""

from __future__ import annotations

from dockyard.predictor.prediction import Prediction
from dockyard.predictor.predictor import Predictor, label_text
from dockyard.predictor.validation import Validator

__all__ = ["Prediction", "Predictor", "Validator", "label_text"]

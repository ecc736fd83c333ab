"""The predictor: the one data plane every entry point calls.

Names are resolved on first use: the prediction log's writer process imports
:mod:`dockyard.predictor.outputs` alone, without the model runtimes and bundle loading that
:class:`Predictor` brings."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.predictor.prediction import Prediction
    from dockyard.predictor.predictor import Predictor, label_text
    from dockyard.predictor.validation import Validator

_LAZY = {
    "Prediction": "dockyard.predictor.prediction",
    "Predictor": "dockyard.predictor.predictor",
    "label_text": "dockyard.predictor.predictor",
    "Validator": "dockyard.predictor.validation",
}

__all__ = ["Prediction", "Predictor", "Validator", "label_text"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.predictor' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

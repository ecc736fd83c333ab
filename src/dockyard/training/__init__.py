"""Training: the built-in examples and saving a user's own fitted model."""

from __future__ import annotations

from dockyard.training.examples import EXAMPLES, train_example
from dockyard.training.save import save_bundle

__all__ = ["EXAMPLES", "save_bundle", "train_example"]

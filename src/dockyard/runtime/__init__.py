"""Model runtimes: scikit-learn itself, or ONNX Runtime when the bundle carries an ONNX
export that was verified against scikit-learn when the bundle was saved."""

from __future__ import annotations

from dockyard.runtime.onnx import OnnxModel, OnnxUnavailable

__all__ = ["OnnxModel", "OnnxUnavailable"]

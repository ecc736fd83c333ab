"""Serving an ONNX export with ONNX Runtime. Imports numpy and onnxruntime only: this is
the path a slim image without scikit-learn, scipy or pandas runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.runtime.cells import MIN_ROWS, TreeCells


class OnnxUnavailable(Exception):
    """ONNX Runtime is missing or cannot open the file; the caller may fall back."""


class OnnxModel:
    """An ONNX classifier, regressor, clusterer or outlier detector, fed validated feature columns in model order.

    The export has either one float tensor ``X`` of all features (models fitted on numeric
    arrays) or one ``[n, 1]`` tensor per feature, named after it (pipelines that select
    columns by name); which one, and whether its numbers are float32 or float64, is read
    from the file.

    ``pad_rows`` > 1 pads every batch (with copies of its last row) to a multiple of that
    many rows: element-wise kernels such as float64 ``Exp`` run vector code on whole SIMD
    registers and scalar code on the remainder, which round differently, so without the
    padding a row's probabilities could depend on how many rows it was batched with.
    """

    def __init__(self, path: Path, *, pad_rows: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OnnxUnavailable(f"onnxruntime is not installed ({exc})") from None
        options = ort.SessionOptions()
        # One row takes microseconds: a thread pool costs more than it saves, and worker
        # processes already use every core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Graph-optimiser notes are not the user's concern, and errors arrive as Python
        # exceptions that the caller reports (or records, falling back): not printed twice.
        options.log_severity_level = 4
        try:
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise OnnxUnavailable(f"onnxruntime cannot open {path.name}: {exc}") from None
        inputs = self._session.get_inputs()
        self._names = [i.name for i in inputs]
        self._strings = [i.type == "tensor(string)" for i in inputs]
        self.precision = "float64" if "tensor(double)" in {i.type for i in inputs} else "float32"
        self._float = np.float64 if self.precision == "float64" else np.float32
        self._types = [object if text else self._float for text in self._strings]
        self.pad_rows = pad_rows
        self._single = len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].shape[1] != 1
        outputs = [o.name for o in self._session.get_outputs()]
        self.classifier = "probabilities" in outputs
        # Clusterers and outlier detectors: a label and "scores" (distances or a score).
        self.scored = not self.classifier and outputs[:2] == ["label", "scores"]
        self._outputs = (
            ["label", "probabilities"]
            if self.classifier
            else outputs[:2]
            if self.scored
            else [outputs[0]]
        )
        self._run = self._session.run
        self._path = path
        # Read with the first large batch (run_matrix): most servers never see one.
        self._cells: TreeCells | None = None
        self._cells_read = False

    def run(self, columns: Sequence[Sequence[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Validated columns (model order) → (labels or values, probabilities or None)."""
        if self._single:
            rows = np.ascontiguousarray(np.array(columns, dtype=self._float).T)
            return self._outputs_of({self._names[0]: rows})
        return self._outputs_of(
            {
                name: np.array(column, dtype=dtype).reshape(-1, 1)
                for name, dtype, column in zip(self._names, self._types, columns, strict=True)
            }
        )

    @property
    def numeric(self) -> bool:
        """Whether every input is a number (so :meth:`run_matrix` applies)."""
        return not any(self._strings)

    def run_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Like :meth:`run`, for a numeric ``(rows, features)`` array in model order."""
        X = np.ascontiguousarray(X, dtype=self._float)
        if self._single:
            picked = self._tree_cells(len(X))
            cells = None if picked is None else picked.pick(X)
            if cells is not None:  # one row per cell (see dockyard.runtime.cells)
                first, inverse = cells
                labels, probabilities = self._outputs_of({self._names[0]: X[first]})
                return labels[inverse], None if probabilities is None else probabilities[inverse]
            return self._outputs_of({self._names[0]: X})
        return self._outputs_of({name: X[:, [i]] for i, name in enumerate(self._names)})

    def _tree_cells(self, rows: int) -> TreeCells | None:
        if rows < MIN_ROWS:
            return None
        if not self._cells_read:
            self._cells = TreeCells.read(self._path, self._names[0])
            self._cells_read = True
        return self._cells

    def _outputs_of(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        rows = len(next(iter(feeds.values())))
        missing = -rows % self.pad_rows
        if missing:
            feeds = {
                name: np.concatenate([feed, np.repeat(feed[-1:], missing, axis=0)])
                for name, feed in feeds.items()
            }
        result = self._run(self._outputs, feeds)
        if self.classifier:
            probabilities = result[1][:rows].astype(np.float64)
            if result[1].dtype != np.float64:
                # Summed in float32, a row can miss 1 by ~1e-7; scikit-learn's rows sum to 1.
                totals = probabilities.sum(axis=1, keepdims=True)
                if totals.all():
                    probabilities /= totals
                else:
                    np.divide(probabilities, totals, out=probabilities, where=totals > 0)
            return result[0][:rows], probabilities
        if self.scored:
            labels = result[0].reshape(-1)[:rows]
            return labels, result[1].astype(np.float64).reshape(len(result[0].reshape(-1)), -1)[
                :rows
            ]
        return result[0].reshape(-1)[:rows].astype(np.float64), None

"""The data plane: every entry point (JSON, query string, CSV, Open Inference Protocol,
``dockyard predict``) validates and predicts through a :class:`Predictor`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.bundle.bins import category_key
from dockyard.bundle.metadata import BundleMetadata
from dockyard.bundle.store import Bundle
from dockyard.errors import FieldError, InvalidInput
from dockyard.predictor.outputs import Answers, UnsupervisedOutputs
from dockyard.predictor.prediction import Inputs, Prediction
from dockyard.predictor.validation import Validator
from dockyard.runtime.loading import RuntimeChoice, load_for_serving, runtime_from_env
from dockyard.runtime.onnx import OnnxModel


def label_text(label: Any) -> str:
    """A class label as text: how JSON writes it for booleans (``true``/``false``), ``str()``
    otherwise. The one spelling of a label as a probability key, a CSV cell or a column name,
    and the one the training reference counts categories by (:func:`category_key`)."""
    return category_key(label)


# The scikit-learn runtime pads batches to a multiple of this many rows (see
# Predictor._estimator_outputs); the ONNX export records its own need in bundle.json.
PAD_ROWS = 8


class Predictor:
    """One loaded bundle with its schema compiled for fast validation.

    ``model`` is what serves: the scikit-learn estimator, or an :class:`OnnxModel` when the
    bundle's verified ONNX export is used (see :mod:`dockyard.runtime.loading`).
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.metadata: BundleMetadata = bundle.metadata
        self.name = bundle.metadata.name
        self.version = bundle.metadata.version
        self.task = bundle.metadata.task
        self.model = bundle.model
        self.digest = bundle.digest
        self.validator = Validator(bundle.metadata.features)
        self.feature_names = self.validator.names
        self.classes: list[Any] = list(bundle.metadata.classes)
        self.class_keys = [label_text(c) for c in self.classes]
        # ONNX gives boolean classes as 0/1 and float classes as integers when they are
        # whole: cast back so both runtimes answer with the training labels' type.
        self._label_type: type | None = (
            bool
            if self.classes and all(isinstance(c, bool) for c in self.classes)
            else float
            if any(isinstance(c, float) for c in self.classes)
            else None
        )
        # An ONNX export computes probabilities for every classifier.
        self.has_probabilities = self.task == "classification" and (
            type(self.model) is OnnxModel or hasattr(self.model, "predict_proba")
        )
        self.unsupervised = UnsupervisedOutputs.of(bundle.metadata)
        self.answers = Answers(self.task, tuple(self.class_keys), self.unsupervised)
        self._frame_input = bundle.metadata.model.input == "frame"
        self._column_input = bundle.metadata.model.input == "column"
        self._dtypes = {
            f.name: {
                "number": "float64",
                "integer": "float64",
                "boolean": "bool",
                "category": "object",
                "text": "object",
            }[f.type]
            for f in bundle.metadata.features
        }

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        allow_version_mismatch: bool = False,
        trusted_types: Sequence[str] = (),
        runtime: RuntimeChoice | None = None,
    ) -> Predictor:
        """Load a bundle; ``runtime`` defaults to ``DOCKYARD_RUNTIME``, else ``auto``."""
        bundle = load_for_serving(
            Path(path),
            runtime=runtime or runtime_from_env(),
            allow_version_mismatch=allow_version_mismatch,
            trusted_types=trusted_types,
        )
        return cls(bundle)

    @property
    def runtime(self) -> str:
        """``onnx`` or ``sklearn``: what computes the predictions."""
        return "onnx" if type(self.model) is OnnxModel else "sklearn"

    # -- input -----------------------------------------------------------------------------

    def model_input(self, columns: list[list[Any]]) -> Any:
        """Validated columns (model order) → what the estimator was fitted on."""
        if self._column_input:
            # Fitted on one 1-D column (e.g. a list of texts): it gets that shape back.
            return np.array(columns[0], dtype=self._dtypes[self.feature_names[0]])
        if not self._frame_input:
            # Fitted on a plain array: the hot path needs no DataFrame (nor pandas at all).
            return np.array(columns, dtype=np.float64).T
        import pandas as pd

        data = {name: column for name, column in zip(self.feature_names, columns, strict=True)}
        frame = pd.DataFrame(data)
        return frame.astype({n: t for n, t in self._dtypes.items() if t != "object"})

    # -- prediction ------------------------------------------------------------------------

    def predict_columns(self, columns: list[list[Any]]) -> Prediction:
        outputs, probabilities = self.compute(columns)
        return self.finish(outputs, probabilities, columns)

    def compute(self, columns: list[list[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """The model's raw outputs (labels or values, probabilities) for validated columns
        in model order, not yet checked: :meth:`finish` does that, per request when
        several were computed together."""
        model = self.model
        if type(model) is OnnxModel:
            return self._onnx_outputs(*model.run(columns))
        return self._estimator_outputs(self.model_input(columns))

    def predict_matrix(self, X: np.ndarray) -> Prediction:
        """Numeric features as a float64 ``(rows, features)`` array in model order, already
        validated (the CSV fast path) → the same :class:`Prediction` as the other entry points."""
        model = self.model
        if type(model) is OnnxModel:
            if model.numeric:
                return self.finish(*self._onnx_outputs(*model.run_matrix(X)), X.T)
        elif not self._frame_input and not self._column_input:
            return self.finish(*self._estimator_outputs(X), X.T)
        return self.predict_columns([X[:, i].tolist() for i in range(X.shape[1])])

    def finish(
        self,
        outputs: np.ndarray,
        probabilities: np.ndarray | None,
        inputs: Inputs | None = None,
    ) -> Prediction:
        """Checked outputs (see :meth:`compute`) → the :class:`Prediction` (of ``inputs``)."""
        self._check_finite(outputs, probabilities)
        return Prediction(outputs.tolist(), probabilities, inputs)

    def _onnx_outputs(
        self, outputs: np.ndarray, probabilities: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        # The export computes probabilities for every classifier; served only where the
        # bundle's model has them, as on the scikit-learn path.
        if self.unsupervised is not None:
            return self.unsupervised.from_raw(outputs, probabilities)
        if self._label_type is not None and outputs.dtype.kind in "iu":
            outputs = outputs.astype(self._label_type)
        return outputs, probabilities if self.has_probabilities else None

    def _estimator_outputs(self, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
        # BLAS multiplies one row with gemv and the last rows of a matrix with narrower
        # kernels than the others, which round differently: padded to a multiple of
        # PAD_ROWS rows, every row takes the same path, so its answer does not depend on
        # what it was batched with.
        if type(X) is np.ndarray:
            # Row-major whichever way it came: BLAS rounds the two layouts differently.
            X = np.ascontiguousarray(X)
        rows = len(X)
        missing = -rows % PAD_ROWS
        if missing:
            last = [rows - 1] * missing
            X = (
                X.iloc[[*range(rows), *last]]
                if hasattr(X, "iloc")
                else np.concatenate([X, X[last]])
            )
        # Inputs far outside the training range can overflow inside the model; that is
        # reported per row by finish() instead of as floating-point warnings.
        try:
            with np.errstate(all="ignore"):
                if self.unsupervised is not None:
                    outputs, probabilities = self.unsupervised.from_estimator(self.model, X)
                else:
                    outputs = np.asarray(self.model.predict(X))
                    probabilities = (
                        np.asarray(self.model.predict_proba(X)) if self.has_probabilities else None
                    )
        except ValueError as exc:
            # The input passed the schema, so a ValueError here means values the fitted
            # model cannot handle (e.g. finite inputs that overflow inside a scaler).
            raise InvalidInput(
                [FieldError(None, f"the model could not score this input: {str(exc)[:200]}")]
            ) from None
        if missing:
            return outputs[:rows], None if probabilities is None else probabilities[:rows]
        return outputs, probabilities

    @staticmethod
    def all_finite(outputs: np.ndarray, probabilities: np.ndarray | None) -> bool:
        """Whether every output is a finite number (labels always are)."""
        return (outputs.dtype.kind != "f" or bool(np.isfinite(outputs).all())) and (
            probabilities is None or bool(np.isfinite(probabilities).all())
        )

    def _check_finite(self, outputs: np.ndarray, probabilities: np.ndarray | None) -> None:
        # One vectorised test on the hot path; the per-row search only when it fails.
        if self.all_finite(outputs, probabilities):
            return
        numeric = outputs.dtype.kind == "f"
        bad = np.zeros(len(outputs), dtype=bool)
        if numeric:
            bad |= ~np.isfinite(outputs)
        if probabilities is not None:
            bad |= ~np.isfinite(probabilities).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)[:10].tolist()
            raise InvalidInput(
                [
                    FieldError(
                        None,
                        "the model's output is not a finite number; the input is far outside the "
                        "range it was trained on (see the feature ranges in /v1/models/"
                        + self.name
                        + ")",
                        row=row,
                    )
                    for row in rows
                ]
            )

    # -- output ----------------------------------------------------------------------------

    def to_json(self, prediction: Prediction) -> list[dict[str, Any]]:
        """Per-row JSON objects: ``{"label", "probabilities"}`` or ``{"value"}``."""
        return self.answers.to_json(prediction)

    def response(self, prediction: Prediction) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "predictions": self.to_json(prediction),
        }

    @property
    def scores_output(self) -> str | None:
        """The Open Inference Protocol name of the per-row numbers beside the labels."""
        if self.unsupervised is not None:
            return self.unsupervised.method
        return "predict_proba" if self.has_probabilities else None

    def scores_shape(self, rows: int) -> list[int]:
        """The V2 shape of :attr:`scores_output` for ``rows`` rows."""
        if self.unsupervised is not None:
            return self.unsupervised.v2_shape(rows)
        return [rows, len(self.classes)]

    @property
    def output_columns(self) -> list[str]:
        """Columns ``dockyard predict`` and CSV scoring append to each row."""
        if self.unsupervised is not None:
            return self.unsupervised.columns
        target = self.metadata.target.name
        columns = [f"predicted_{target}"]
        if self.has_probabilities:
            columns += [f"probability_{k}" for k in self.class_keys]
        return columns

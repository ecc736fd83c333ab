"""What clustering and outlier-detection bundles answer, in one place for every entry point.

Per row, as JSON (v1 POST and GET, the web form):

- clustering: ``{"cluster": 2, "distances": {"0": 1.9, "1": 3.4, "2": 0.4}}`` (k-means
  models: distance to each cluster centre), ``{"cluster": 1, "probabilities": {"0": 0.02,
  "1": 0.98}}`` (mixture models: membership probabilities), or ``{"cluster": 0}``;
- outlier detection: ``{"label": "outlier", "score": -0.12}``; the score is scikit-learn's
  ``decision_function``: negative for outliers, and the lower the more anomalous.

CSV scoring appends the same keys as columns (``cluster``, ``distance_0``…;
``label``, ``score``); the Open Inference Protocol answers ``predict`` and an output named
after the scikit-learn method (``transform``, ``predict_proba``, ``decision_function``).
The :class:`~dockyard.predictor.predictor.Prediction` holds the labels in ``outputs`` and
the per-row numbers in ``probabilities`` (an ``(n, k)`` matrix; ``(n, 1)`` for a score).
This module needs numpy and orjson only: ONNX-served bundles use it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from dockyard.predictor.prediction import Prediction

if TYPE_CHECKING:
    from dockyard.bundle.metadata import BundleMetadata

# What each kind of score is called: in JSON, as a CSV column prefix, as the model method.
_SCORES: dict[str, tuple[str, str, str]] = {
    "distances": ("distances", "distance_", "transform"),
    "probabilities": ("probabilities", "probability_", "predict_proba"),
    "score": ("score", "score", "decision_function"),
}
_OUTLIER = "outlier"
_INLIER = "inlier"


@dataclass(frozen=True, slots=True)
class UnsupervisedOutputs:
    """The outputs of one clustering or outlier-detection bundle."""

    task: str
    label_key: str
    """``cluster`` or ``label`` (``inlier``/``outlier``)."""
    score_key: str | None
    """``distances``, ``probabilities``, ``score`` or ``None``."""
    method: str | None
    """The scikit-learn method computing the scores; also the V2 output's name."""
    keys: tuple[str, ...]
    """The score columns: one per cluster, or ``score`` alone."""

    @classmethod
    def of(cls, metadata: BundleMetadata) -> UnsupervisedOutputs | None:
        """``None`` for classification and regression bundles."""
        from dockyard.bundle.metadata import UNSUPERVISED_TASKS

        if metadata.task not in UNSUPERVISED_TASKS:
            return None
        kind = metadata.target.scores
        score_key, _, method = _SCORES[kind] if kind else (None, "", None)
        keys = () if kind is None else ("score",) if kind == "score" else _keys(metadata.classes)
        label_key = "cluster" if metadata.task == "clustering" else "label"
        return cls(metadata.task, label_key, score_key, method, keys)

    @property
    def single_score(self) -> bool:
        return self.score_key == "score"

    # -- computing ---------------------------------------------------------------------------

    def from_estimator(self, model: Any, X: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """A scikit-learn estimator's (labels, scores) for ``X``."""
        labels = np.asarray(model.predict(X))
        scores = None if self.method is None else np.asarray(getattr(model, self.method)(X))
        return self.from_raw(labels, scores)

    def from_raw(
        self, labels: np.ndarray, scores: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and scores as scikit-learn or ONNX Runtime computed them → served form:
        outliers as ``inlier``/``outlier``, scores as a float64 ``(n, k)`` matrix."""
        labels = labels.reshape(-1)
        if self.task != "clustering":
            labels = np.where(labels == -1, _OUTLIER, _INLIER)
        if self.method is None or scores is None:
            return labels, None
        return labels, np.asarray(scores, dtype=np.float64).reshape(len(labels), -1)

    # -- answering ---------------------------------------------------------------------------

    def to_json(self, prediction: Prediction) -> list[dict[str, Any]]:
        key = self.label_key
        matrix = prediction.probabilities
        if self.score_key is None or matrix is None:
            return [{key: label} for label in prediction.outputs]
        if self.single_score:
            return [
                {key: label, "score": row[0]}
                for label, row in zip(prediction.outputs, matrix.tolist(), strict=True)
            ]
        names, score_key = self.keys, self.score_key
        return [
            {key: label, score_key: dict(zip(names, row, strict=True))}
            for label, row in zip(prediction.outputs, matrix.tolist(), strict=True)
        ]

    @property
    def columns(self) -> list[str]:
        """The columns CSV scoring and ``dockyard predict`` append."""
        if self.score_key is None:
            return [self.label_key]
        prefix = _SCORES[_kind(self.score_key)][1]
        if self.single_score:
            return [self.label_key, prefix]
        return [self.label_key, *(prefix + k for k in self.keys)]

    def v2_shape(self, rows: int) -> list[int]:
        """The shape of the V2 scores output: ``[rows]`` for a score, else ``[rows, k]``."""
        return [rows] if self.single_score else [rows, len(self.keys)]

    def json_schema(self, classes: Sequence[Any]) -> dict[str, Any]:
        """The OpenAPI schema of one prediction."""
        properties: dict[str, Any] = {self.label_key: {"enum": list(classes)}}
        if self.score_key is not None:
            if self.single_score:
                properties["score"] = {"type": "number"}
            else:
                bounds = (
                    {"minimum": 0, "maximum": 1}
                    if self.score_key == "probabilities"
                    else {"minimum": 0}
                )
                properties[self.score_key] = {
                    "type": "object",
                    "properties": {k: {"type": "number", **bounds} for k in self.keys},
                    "required": list(self.keys),
                }
        return {"type": "object", "properties": properties, "required": list(properties)}


@dataclass(frozen=True, slots=True)
class Answers:
    """How one bundle's rows are answered as JSON (v1, the form, the prediction log),
    apart from its model: small and picklable, so that the prediction log's writer process
    encodes rows as the server answers them."""

    task: str
    class_keys: tuple[str, ...]
    """Each class label as text (``label_text``): the probabilities' keys."""
    unsupervised: UnsupervisedOutputs | None

    @property
    def key(self) -> str:
        """The key of a row's answer that holds its prediction."""
        if self.unsupervised is not None:
            return self.unsupervised.label_key
        return "value" if self.task == "regression" else "label"

    def to_json(self, prediction: Prediction) -> list[dict[str, Any]]:
        """Per-row JSON objects: ``{"label", "probabilities"}`` or ``{"value"}``, or what a
        clustering or outlier-detection bundle answers."""
        if self.unsupervised is not None:
            return self.unsupervised.to_json(prediction)
        if self.task == "regression":
            return [{"value": v} for v in self.predictions(prediction.outputs)]
        if prediction.probabilities is None:
            return [{"label": label} for label in prediction.outputs]
        keys = self.class_keys
        return [
            {"label": label, "probabilities": dict(zip(keys, row, strict=True))}
            for label, row in zip(
                prediction.outputs, prediction.probabilities.tolist(), strict=True
            )
        ]

    def predictions(self, outputs: Sequence[Any]) -> list[Any]:
        """What each row's answer holds under :attr:`key`, for these outputs."""
        if self.unsupervised is None and self.task == "regression":
            return [float(v) for v in outputs]
        return list(outputs)

    def template(self, scored: bool) -> str:
        """A row of :meth:`to_json` as the JSON text orjson writes, with ``%s`` for its
        prediction (:meth:`predictions`) and then for each of its scores in order (a row of
        the score matrix; ``scored``: the prediction has one): the prediction log formats
        the answers of many rows with it, instead of building and dumping each object."""
        unsupervised = self.unsupervised
        if unsupervised is not None:
            head = _text(unsupervised.label_key) + ":%s"
            if unsupervised.score_key is None or not scored:
                return "{" + head + "}"
            if unsupervised.single_score:
                return "{" + head + "," + _text("score") + ":%s}"
            return "{" + head + "," + _object(unsupervised.score_key, unsupervised.keys) + "}"
        if self.task == "regression":
            return "{" + _text("value") + ":%s}"
        head = _text("label") + ":%s"
        if not scored:
            return "{" + head + "}"
        return "{" + head + "," + _object("probabilities", self.class_keys) + "}"


def object_template(names: Sequence[str]) -> str:
    """The JSON text orjson writes of an object with these keys, in order, with ``%s`` for
    each value."""
    return "{" + ",".join(_text(name) + ":%s" for name in names) + "}"


def _text(key: str) -> str:
    """``key`` as JSON text, for a %-template."""
    return orjson.dumps(key).decode().replace("%", "%%")


def _object(key: str, names: Sequence[str]) -> str:
    return _text(key) + ":" + object_template(names)


def _keys(classes: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(c) for c in classes)


def _kind(score_key: str) -> str:
    return next(k for k, names in _SCORES.items() if names[0] == score_key)

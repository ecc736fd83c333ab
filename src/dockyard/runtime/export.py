"""Bundle-time ONNX export: convert with skl2onnx, then keep the file only if ONNX Runtime
reproduces scikit-learn on the training data.

The check is strict on what callers see: every label must be identical, and every
probability within :data:`PROBABILITY_TOLERANCE` (absolute) of scikit-learn's; regression
values within :data:`VALUE_TOLERANCE` relative (absolute below 1). ONNX Runtime computes
in float32, which is why a tolerance is needed at all. Anything else — an estimator
skl2onnx does not know, an error, a disagreement — leaves the bundle on the scikit-learn
runtime, with the reason recorded in ``bundle.json`` and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dockyard.bundle.environment import installed_version
from dockyard.bundle.metadata import UNSUPERVISED_TASKS, Feature, Runtime, Task
from dockyard.runtime.onnx import OnnxModel, OnnxUnavailable

logger = logging.getLogger("dockyard.runtime")

ONNX_FILE = "model.onnx"
PROBABILITY_TOLERANCE = 1e-4
VALUE_TOLERANCE = 1e-4
MAX_CHECK_ROWS = 10_000


class _Refused(Exception):
    pass


def export_onnx(
    directory: Path,
    model: Any,
    frame: Any,
    features: Sequence[Feature],
    input_kind: str,
    task: Task,
    scores: str | None = None,
) -> Runtime:
    """Write ``model.onnx`` into ``directory`` if it converts and agrees; say which runtime
    serves and why. ``scores``: what a clustering or outlier bundle serves beside the label
    (``distances``, ``probabilities``, ``score``), checked like probabilities or values."""
    path = directory / ONNX_FILE
    try:
        _supported(model, features, task)
        onx = _convert(model, features, input_kind, task)
        path.write_bytes(onx)
        sample = (
            frame if len(frame) <= MAX_CHECK_ROWS else frame.sample(MAX_CHECK_ROWS, random_state=0)
        )
        if task in UNSUPERVISED_TASKS:
            difference = _verify_unsupervised(
                OnnxModel(path), model, sample, features, input_kind, scores
            )
        else:
            difference = _verify(OnnxModel(path), model, sample, features, input_kind, task)
    except (_Refused, OnnxUnavailable) as exc:
        path.unlink(missing_ok=True)
        reason = str(exc)
        logger.warning("%s stays on the scikit-learn runtime: %s", type(model).__name__, reason)
        return Runtime(kind="sklearn", reason=reason)
    return Runtime(
        kind="onnx",
        path=ONNX_FILE,
        checked_rows=len(sample),
        max_difference=difference,
        tolerance=PROBABILITY_TOLERANCE
        if task == "classification" or scores == "probabilities"
        else VALUE_TOLERANCE,
        versions={n: v for n in ("skl2onnx", "onnx", "onnxruntime") if (v := installed_version(n))},
    )


def _supported(model: Any, features: Sequence[Feature], task: Task) -> None:
    if task == "classification" and not hasattr(model, "predict_proba"):
        raise _Refused(f"{type(model).__name__} has no predict_proba")
    nullable_text = [f.name for f in features if f.type == "category" and f.nullable]
    if nullable_text:
        # ONNX string tensors cannot hold a missing value.
        raise _Refused(f"category features with missing values ({', '.join(nullable_text)})")


def _convert(model: Any, features: Sequence[Feature], input_kind: str, task: Task) -> bytes:
    try:
        from skl2onnx import convert_sklearn, get_latest_tested_opset_version
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError as exc:
        raise _Refused(f"skl2onnx is not installed ({exc})") from None
    numeric = all(f.type != "category" for f in features)
    layouts = []
    if numeric:
        layouts.append([("X", FloatTensorType([None, len(features)]))])
    if input_kind == "frame":
        layouts.append(
            [
                (
                    f.name,
                    StringTensorType([None, 1])
                    if f.type == "category"
                    else FloatTensorType([None, 1]),
                )
                for f in features
            ]
        )
    options = {"zipmap": False} if task == "classification" else None
    # skl2onnx converts IsolationForest only for the older ai.onnx.ml domain.
    opset = (
        {"": get_latest_tested_opset_version(), "ai.onnx.ml": 3}
        if task == "outlier_detection"
        else None
    )
    problem = ""
    for initial_types in layouts:
        try:
            onx = convert_sklearn(
                model, initial_types=initial_types, options=options, target_opset=opset
            )
        except Exception as exc:  # skl2onnx raises many types for what it cannot convert
            problem = (
                str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            )
            continue
        data: bytes = onx.SerializeToString()
        return data
    raise _Refused(f"skl2onnx cannot convert {type(model).__name__}: {problem}")


def _columns(sample: Any, features: Sequence[Feature]) -> list[list[Any]]:
    """The training rows as the validator would hand them over: numbers as floats."""
    columns: list[list[Any]] = []
    for feature in features:
        values = sample[feature.name]
        if feature.type == "category":
            columns.append([str(v) for v in values])
        else:
            columns.append(values.astype(np.float64).tolist())
    return columns


def _verify(
    onnx_model: OnnxModel,
    model: Any,
    sample: Any,
    features: Sequence[Feature],
    input_kind: str,
    task: Task,
) -> float:
    X = sample if input_kind == "frame" else sample.to_numpy()
    try:
        labels, probabilities = onnx_model.run(_columns(sample, features))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise _Refused(f"onnxruntime failed on the training data: {str(exc)[:300]}") from None
    with np.errstate(all="ignore"):
        expected = np.asarray(model.predict(X))
    if task == "regression":
        scale = np.maximum(1.0, np.abs(expected.astype(np.float64)))
        relative = np.abs(labels - expected) / scale
        worst = float(np.nanmax(relative)) if len(relative) else 0.0
        if not worst <= VALUE_TOLERANCE:
            raise _Refused(
                f"ONNX values differ from scikit-learn's by up to {worst:.2g} (relative); "
                f"the tolerance is {VALUE_TOLERANCE:g}"
            )
        return worst
    differing = sum(a != b for a, b in zip(labels.tolist(), expected.tolist(), strict=True))
    if differing:
        raise _Refused(
            f"ONNX labels differ from scikit-learn's on {differing} of {len(sample)} training rows"
        )
    with np.errstate(all="ignore"):
        expected_p = np.asarray(model.predict_proba(X), dtype=np.float64)
    assert probabilities is not None
    if probabilities.shape != expected_p.shape:
        raise _Refused(
            f"ONNX probabilities have shape {probabilities.shape}, not {expected_p.shape}"
        )
    worst = float(np.max(np.abs(probabilities - expected_p))) if expected_p.size else 0.0
    if not worst <= PROBABILITY_TOLERANCE:
        raise _Refused(
            f"ONNX probabilities differ from scikit-learn's by up to {worst:.2g}; "
            f"the tolerance is {PROBABILITY_TOLERANCE:g}"
        )
    return worst


def _verify_unsupervised(
    onnx_model: OnnxModel,
    model: Any,
    sample: Any,
    features: Sequence[Feature],
    input_kind: str,
    scores: str | None,
) -> float:
    """Clusters (or inlier/outlier) exact; membership probabilities within
    :data:`PROBABILITY_TOLERANCE`, distances and scores within :data:`VALUE_TOLERANCE`
    relative (absolute below 1)."""
    X = sample if input_kind == "frame" else sample.to_numpy()
    try:
        labels, values = onnx_model.run(_columns(sample, features))
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise _Refused(f"onnxruntime failed on the training data: {str(exc)[:300]}") from None
    with np.errstate(all="ignore"):
        expected = np.asarray(model.predict(X)).reshape(-1)
    differing = int(np.sum(labels.reshape(-1) != expected))
    if differing:
        raise _Refused(
            f"ONNX predictions differ from scikit-learn's on {differing} of {len(sample)} "
            "training rows"
        )
    if scores is None:
        return 0.0
    method = {"distances": "transform", "probabilities": "predict_proba"}.get(
        scores, "decision_function"
    )
    with np.errstate(all="ignore"):
        wanted = np.asarray(getattr(model, method)(X), dtype=np.float64).reshape(len(sample), -1)
    if values is None or values.size != wanted.size:
        raise _Refused(f"the ONNX export has no {scores} matching scikit-learn's {method}")
    got = values.reshape(wanted.shape)
    if scores == "probabilities":
        worst = float(np.max(np.abs(got - wanted))) if wanted.size else 0.0
        tolerance, how = PROBABILITY_TOLERANCE, ""
    else:
        scale = np.maximum(1.0, np.abs(wanted))
        worst = float(np.max(np.abs(got - wanted) / scale)) if wanted.size else 0.0
        tolerance, how = VALUE_TOLERANCE, " (relative)"
    if not worst <= tolerance:
        raise _Refused(
            f"ONNX {scores.rstrip('s')}s differ from scikit-learn's {method} "
            f"by up to {worst:.2g}{how}; "
            f"the tolerance is {tolerance:g}"
        )
    return worst

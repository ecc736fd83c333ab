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
from dockyard.bundle.metadata import Feature, Runtime, Task
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
) -> Runtime:
    """Write ``model.onnx`` into ``directory`` if it converts and agrees; say which runtime
    serves and why."""
    path = directory / ONNX_FILE
    text = [f.name for f in features if f.type == "text"]
    if text:
        # The ONNX text operators need an installed locale, and even with one they score
        # non-ASCII text ("Café") differently from scikit-learn; a check on the training
        # rows cannot vouch for new sentences, so text is not exported at all.
        reason = f"text features ({', '.join(text)}) are served by scikit-learn"
        logger.info("%s stays on the scikit-learn runtime: %s", type(model).__name__, reason)
        return Runtime(kind="sklearn", reason=reason)
    try:
        _supported(model, features, task)
        onx = _convert(model, features, input_kind, task)
        path.write_bytes(onx)
        sample = (
            frame if len(frame) <= MAX_CHECK_ROWS else frame.sample(MAX_CHECK_ROWS, random_state=0)
        )
        onnx_model = OnnxModel(path)
        difference = _verify(onnx_model, model, sample, features, input_kind, task)
        unseen = _unseen_rows(sample, features)
        if unseen is not None:
            # Accepted when serving, so ONNX must treat them as scikit-learn does.
            try:
                unseen_difference = _verify(onnx_model, model, unseen, features, input_kind, task)
            except _Refused as exc:
                raise _Refused(f"with categories unseen in training: {exc}") from None
            difference = max(difference, unseen_difference)
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
        tolerance=PROBABILITY_TOLERANCE if task == "classification" else VALUE_TOLERANCE,
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
        from skl2onnx import convert_sklearn
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
    problem = ""
    for initial_types in layouts:
        try:
            onx = convert_sklearn(model, initial_types=initial_types, options=options)
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


def _unseen_rows(sample: Any, features: Sequence[Feature]) -> Any:
    """A few training rows with every category that accepts unseen values set to one it
    never saw; ``None`` when no feature accepts them."""
    names = [f.name for f in features if f.type == "category" and f.accepts_unknown]
    if not names:
        return None
    rows = sample.head(16).copy()
    for name in names:
        rows[name] = "\x1fnot seen in training"
    return rows


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

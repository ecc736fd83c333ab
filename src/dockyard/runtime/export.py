"""Bundle-time ONNX export: convert with skl2onnx, then keep the file only if ONNX Runtime
reproduces scikit-learn on the training data.

The export computes in float64 wherever skl2onnx and ONNX Runtime support the model
(linear models, k-nearest neighbours, most preprocessing), and is then held to
:data:`DOUBLE_TOLERANCE`: what it answers is scikit-learn's answer to the last few bits.
Where they do not (tree ensembles, whose ONNX operators sum in float32, as scikit-learn's
trees compare float32 inputs; SVMs), it computes in float32 and is held to
:data:`PROBABILITY_TOLERANCE` (absolute) for probabilities and :data:`VALUE_TOLERANCE`
(relative, absolute below 1) for regression values; why float64 was not kept is recorded.
Labels must be identical either way. Anything else (an estimator skl2onnx does not know,
an error, a disagreement) leaves the bundle on the scikit-learn runtime, with the reason
recorded in ``bundle.json`` and logged.

Then the export is checked for one answer per input: the checked rows are scored in one
batch, in reverse order, and in batches of several sizes, and must come back bit for bit
the same. ONNX Runtime's float64 ``Exp`` (inside ``Softmax``) runs SIMD code on whole
registers and scalar code on the remainder, which round differently, so a row's
probabilities could depend on its place in the batch; padding every batch to a multiple
of :data:`PAD_ROWS` rows keeps every row on the SIMD path. Padding is recorded only when
it is needed, and the largest difference that remains, normally 0, is recorded too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dockyard.bundle.environment import installed_version
from dockyard.bundle.metadata import UNSUPERVISED_TASKS, Feature, Runtime, Task
from dockyard.runtime.converters import register_converters, uses_library_converter
from dockyard.runtime.onnx import OnnxModel, OnnxUnavailable

logger = logging.getLogger("dockyard.runtime")

ONNX_FILE = "model.onnx"
PROBABILITY_TOLERANCE = 1e-4
VALUE_TOLERANCE = 1e-4
DOUBLE_TOLERANCE = 1e-12
MAX_CHECK_ROWS = 10_000
PAD_ROWS = 8
BATCH_CHECK_ROWS = 64
BATCH_SIZES = (1, 2, 3, 5, 8, 13)

Precision = Literal["float64", "float32"]


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
    *,
    precisions: Sequence[Precision] = ("float64", "float32"),
) -> Runtime:
    """Write ``model.onnx`` into ``directory`` if it converts and agrees; say which runtime
    serves, in which precision, and why. ``precisions`` are tried in order. ``scores``: what
    a clustering or outlier bundle serves beside the label (``distances``,
    ``probabilities``, ``score``), checked like probabilities or values."""
    path = directory / ONNX_FILE
    text = [f.name for f in features if f.type == "text"]
    if text:
        # The ONNX text operators need an installed locale, and even with one they score
        # non-ASCII text ("Café") differently from scikit-learn; a check on the training
        # rows cannot vouch for new sentences, so text is not exported at all.
        reason = f"text features ({', '.join(text)}) are served by scikit-learn"
        logger.info("%s stays on the scikit-learn runtime: %s", type(model).__name__, reason)
        return Runtime(kind="sklearn", reason=reason)
    sample = frame if len(frame) <= MAX_CHECK_ROWS else frame.sample(MAX_CHECK_ROWS, random_state=0)
    unseen = _unseen_rows(sample, features)
    reasons: dict[Precision, str] = {}
    try:
        _supported(model, features, task)
    except _Refused as exc:
        reasons["float32"] = str(exc)
        precisions = ()
    for precision in precisions:
        tolerance = _tolerance(task, precision, scores)
        try:
            path.write_bytes(_convert(model, features, input_kind, task, precision))
            onnx_model = OnnxModel(path)
            if task in UNSUPERVISED_TASKS:
                difference = _verify_unsupervised(
                    onnx_model, model, sample, features, input_kind, scores
                )
            else:
                difference = _verify(
                    onnx_model, model, sample, features, input_kind, task, tolerance
                )
            if unseen is not None:
                # Accepted when serving, so ONNX must treat them as scikit-learn does.
                try:
                    unseen_difference = _verify(
                        onnx_model, model, unseen, features, input_kind, task, tolerance
                    )
                except _Refused as exc:
                    raise _Refused(f"with categories unseen in training: {exc}") from None
                difference = max(difference, unseen_difference)
            pad_rows, spread = _batch_check(path, _columns(sample, features), task)
        except (_Refused, OnnxUnavailable) as exc:
            path.unlink(missing_ok=True)
            # onnxruntime names the file by its full, temporary path.
            reasons[precision] = str(exc).replace(str(path), ONNX_FILE)[:400]
            continue
        if "float64" in reasons:
            logger.info("%s is exported in float32: %s", type(model).__name__, reasons["float64"])
        return Runtime(
            kind="onnx",
            path=ONNX_FILE,
            checked_rows=len(sample),
            max_difference=difference,
            tolerance=tolerance,
            versions={
                n: v for n in ("skl2onnx", "onnx", "onnxruntime") if (v := installed_version(n))
            },
            precision=precision,
            precision_reason=reasons.get("float64", ""),
            pad_rows=pad_rows,
            batch_difference=spread,
        )
    reason = reasons.get("float32") or reasons.get("float64", "no precision was tried")
    if reasons.get("float64", reason) != reason:
        reason = f"{reason} (in float64: {reasons['float64']})"
    logger.warning("%s stays on the scikit-learn runtime: %s", type(model).__name__, reason)
    return Runtime(kind="sklearn", reason=reason)


def _tolerance(task: Task, precision: Precision, scores: str | None) -> float:
    if task in UNSUPERVISED_TASKS:
        # Clusters and outliers are held to the float32 bounds in either precision.
        return PROBABILITY_TOLERANCE if scores == "probabilities" else VALUE_TOLERANCE
    if precision == "float64":
        return DOUBLE_TOLERANCE
    return PROBABILITY_TOLERANCE if task == "classification" else VALUE_TOLERANCE


def _supported(model: Any, features: Sequence[Feature], task: Task) -> None:
    if task == "classification" and not hasattr(model, "predict_proba"):
        raise _Refused(f"{type(model).__name__} has no predict_proba")
    nullable_text = [f.name for f in features if f.type == "category" and f.nullable]
    if nullable_text:
        # ONNX string tensors cannot hold a missing value.
        raise _Refused(f"category features with missing values ({', '.join(nullable_text)})")


def _convert(
    model: Any, features: Sequence[Feature], input_kind: str, task: Task, precision: Precision
) -> bytes:
    try:
        from skl2onnx import convert_sklearn, get_latest_tested_opset_version
        from skl2onnx.common.data_types import (
            DoubleTensorType,
            FloatTensorType,
            StringTensorType,
        )
    except ImportError as exc:
        raise _Refused(f"skl2onnx is not installed ({exc})") from None
    register_converters()
    NumberTensorType = DoubleTensorType if precision == "float64" else FloatTensorType
    numeric = all(f.type != "category" for f in features)
    layouts = []
    if numeric:
        layouts.append([("X", NumberTensorType([None, len(features)]))])
    if input_kind == "frame":
        layouts.append(
            [
                (
                    f.name,
                    StringTensorType([None, 1])
                    if f.type == "category"
                    else NumberTensorType([None, 1]),
                )
                for f in features
            ]
        )
    options = {"zipmap": False} if task == "classification" else None
    # skl2onnx converts IsolationForest only for the older ai.onnx.ml domain.
    opset = (
        {"": get_latest_tested_opset_version(), "ai.onnx.ml": 3}
        if task == "outlier_detection" or uses_library_converter(model)
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
        return _serialise(onx)
    raise _Refused(f"skl2onnx cannot convert {type(model).__name__}: {problem}")


GRAPH_NAME = "dockyard"


def _serialise(onx: Any) -> bytes:
    """The model's bytes, the same for the same model: skl2onnx names the graph with a random
    UUID and lists the opset domains in set order (which varies with string hashing)."""
    onx.graph.name = GRAPH_NAME
    opsets = sorted((o.domain, o.version) for o in onx.opset_import)
    del onx.opset_import[:]
    for domain, version in opsets:
        entry = onx.opset_import.add()
        entry.domain, entry.version = domain, version
    data: bytes = onx.SerializeToString(deterministic=True)
    return data


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
    tolerance: float,
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
        if not worst <= tolerance:
            raise _Refused(
                f"ONNX values differ from scikit-learn's by up to {worst:.2g} (relative); "
                f"the tolerance is {tolerance:g}"
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
    if not worst <= tolerance:
        raise _Refused(
            f"ONNX probabilities differ from scikit-learn's by up to {worst:.2g}; "
            f"the tolerance is {tolerance:g}"
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


def _batch_check(path: Path, columns: list[list[Any]], task: Task) -> tuple[int, float]:
    """(rows to pad batches to, largest difference left between a row's outputs in
    different batches): padding only if a row's outputs depend on its batch without it."""
    spread = _batch_spread(OnnxModel(path), columns, task)
    if spread == 0.0:
        return 1, spread
    padded = _batch_spread(OnnxModel(path, pad_rows=PAD_ROWS), columns, task)
    if padded < spread:
        return PAD_ROWS, padded
    return 1, spread


def _batch_spread(onnx_model: OnnxModel, columns: list[list[Any]], task: Task) -> float:
    """Largest difference between the outputs of the checked rows scored in one batch and
    the same rows scored in reverse order and in batches of :data:`BATCH_SIZES` rows."""

    def outputs(part: list[list[Any]]) -> np.ndarray:
        labels, probabilities = onnx_model.run(part)
        return labels if task == "regression" or probabilities is None else probabilities

    def difference(a: np.ndarray, b: np.ndarray) -> float:
        # A missing value in the same place in both is no difference.
        gaps = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        return float(np.max(gaps, initial=0.0))

    rows = len(columns[0])
    whole = outputs(columns)
    worst = difference(outputs([c[::-1] for c in columns])[::-1], whole)
    for size in BATCH_SIZES:
        for start in range(0, min(rows, BATCH_CHECK_ROWS), size):
            part = outputs([c[start : start + size] for c in columns])
            worst = max(worst, difference(part, whole[start : start + size]))
    return worst

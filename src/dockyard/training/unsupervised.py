"""Saving models fitted without a target: clusterers and novelty (outlier) detectors.

What :func:`~dockyard.training.save.save_bundle` needs from them, decided once at save
time: the task, the clusters (or ``inlier``/``outlier``) a prediction can be, what each
prediction carries beside it (distances, membership probabilities or a score), and an
evaluation on the rows given (cluster sizes and silhouette; the share flagged as outliers).
Estimators Dockyard cannot serve are refused here, in one line that says what it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from dockyard.bundle.metadata import Evaluation, Scalar, Task
from dockyard.errors import TrainingError

OUTLIER_CLASSES: tuple[str, str] = ("inlier", "outlier")
SILHOUETTE_ROWS = 2_000
SUPPORTED = (
    "Dockyard serves classifiers and regressors (with y), and with y=None clusterers that "
    "assign new rows (KMeans, MiniBatchKMeans, GaussianMixture) and novelty detectors "
    "(IsolationForest, OneClassSVM, EllipticEnvelope, LocalOutlierFactor(novelty=True))"
)

Scores = Literal["distances", "probabilities", "score"]


@dataclass(frozen=True, slots=True)
class Unsupervised:
    """What a clustering or outlier bundle records, and what its report shows."""

    classes: list[Scalar]
    scores: Scores | None
    evaluation: Evaluation
    shown: pd.DataFrame
    labels: np.ndarray
    """Predicted cluster, or ``inlier``/``outlier``, of each evaluated row."""
    score_values: np.ndarray | None
    """Outliers: each evaluated row's score (``decision_function``)."""


def _final_step(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else model


def _refuse(model: Any, why: str) -> TrainingError:
    return TrainingError(f"Dockyard cannot serve {type(model).__name__}: {why}. {SUPPORTED}.")


def infer_task(model: Any) -> Task:
    """``clustering`` or ``outlier_detection`` for an estimator that is neither a classifier
    nor a regressor; anything else is refused."""
    task = _tagged_task(model)
    if task is not None:
        return task
    final = type(_final_step(model)).__name__
    if hasattr(model, "predict"):
        raise TrainingError(
            f"{type(model).__name__} does not say what it predicts; pass task='classification', "
            "'regression', 'clustering' or 'outlier_detection'."
        )
    what = "a transformer" if hasattr(model, "transform") else "not an estimator that predicts"
    raise _refuse(model, f"it is {what} ({final} comes last), not a model that predicts")


def _tagged_task(model: Any) -> Task | None:
    from sklearn.utils import get_tags

    kind = get_tags(model).estimator_type
    if kind in ("clusterer", "density_estimator"):
        return "clustering"
    if kind == "outlier_detector":
        return "outlier_detection"
    return None


def check_supervised(model: Any, task: Task) -> None:
    """A clusterer or outlier detector saved as a classifier or regressor: say what to do."""
    tagged = _tagged_task(model)
    if tagged is not None:
        kind = "clusterer" if tagged == "clustering" else "outlier detector"
        raise TrainingError(
            f"{type(model).__name__} is a {kind}, not a {task} model: save it with y=None "
            f"and without task (or task='{tagged}')."
        )


def check_servable(model: Any, task: Task, y: Any, y_test: Any) -> None:
    """A clusterer or outlier detector must predict new rows and be saved without a target."""
    if not hasattr(model, "predict"):
        final = _final_step(model)
        why = "it has no predict(), so it cannot score new rows"
        if type(final).__name__ == "LocalOutlierFactor":
            why += " (fit LocalOutlierFactor with novelty=True)"
        raise _refuse(model, why)
    if type(_final_step(model)).__name__ == "Birch":
        # Its CF-tree is beyond skops, and Dockyard never loads pickle.
        raise _refuse(model, "skops cannot save its CF-tree, and Dockyard never loads pickle")
    if y is not None or y_test is not None:
        kind = "clusterer" if task == "clustering" else "outlier detector"
        raise TrainingError(
            f"{type(model).__name__} is a {kind}: it has no target; pass y=None (and no y_test)."
        )


def _clusters(model: Any, labels: np.ndarray) -> list[Scalar]:
    final = _final_step(model)
    for attribute in ("cluster_centers_", "means_"):
        centres = getattr(final, attribute, None)
        if centres is not None:
            return list(range(len(centres)))
    known = getattr(final, "subcluster_labels_", None)  # Birch
    values = np.unique(known if known is not None else labels)
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _scores(model: Any, task: Task, classes: list[Scalar]) -> Scores | None:
    if task == "outlier_detection":
        return "score" if hasattr(model, "decision_function") else None
    if hasattr(model, "predict_proba"):
        return "probabilities"
    centres = getattr(_final_step(model), "cluster_centers_", None)
    if centres is not None and len(centres) == len(classes) and hasattr(model, "transform"):
        return "distances"
    return None


def outlier_labels(raw: np.ndarray) -> np.ndarray:
    """scikit-learn's ``1``/``-1`` → ``inlier``/``outlier``."""
    return np.where(np.asarray(raw).reshape(-1) == -1, OUTLIER_CLASSES[1], OUTLIER_CLASSES[0])


def evaluate(
    model: Any, task: Task, frame: pd.DataFrame, X_test: Any, as_input: Any
) -> Unsupervised:
    """Predict the test rows (or, without them, the training rows) and summarise them.

    ``as_input`` turns a frame into what the model was fitted on."""
    from dockyard.bundle import schema

    method: Literal["holdout", "training_data"]
    if X_test is not None:
        shown = schema.as_frame(X_test, list(frame.columns)).astype(frame.dtypes.to_dict())
        method = "holdout"
    else:
        shown, method = frame, "training_data"
    X = as_input(shown)
    with np.errstate(all="ignore"):
        raw = np.asarray(model.predict(X)).reshape(-1)
    if task == "outlier_detection":
        labels = outlier_labels(raw)
        flagged = int((labels == OUTLIER_CLASSES[1]).sum())
        metrics = {"outlier_share": round(flagged / len(labels), 6), "outliers": float(flagged)}
        counts = {OUTLIER_CLASSES[0]: len(labels) - flagged, OUTLIER_CLASSES[1]: flagged}
        with np.errstate(all="ignore"):
            values = (
                np.asarray(model.decision_function(X), dtype=np.float64).reshape(-1)
                if hasattr(model, "decision_function")
                else None
            )
        evaluation = Evaluation(method=method, rows=len(shown), metrics=metrics, counts=counts)
        return Unsupervised(
            list(OUTLIER_CLASSES), _scores(model, task, []), evaluation, shown, labels, values
        )
    classes = _clusters(model, raw)
    counts = {str(c): int((raw == c).sum()) for c in classes}
    metrics = {
        "clusters": float(len(classes)),
        "largest_cluster_share": round(max(counts.values()) / len(raw), 6),
    }
    silhouette = _silhouette(model, X, raw)
    if silhouette is not None:
        metrics["silhouette"] = silhouette
    inertia = getattr(_final_step(model), "inertia_", None)
    if method == "training_data" and isinstance(inertia, float):
        metrics["inertia"] = round(inertia, 6)
    evaluation = Evaluation(method=method, rows=len(shown), metrics=metrics, counts=counts)
    return Unsupervised(classes, _scores(model, task, classes), evaluation, shown, raw, None)


def _silhouette(model: Any, X: Any, labels: np.ndarray) -> float | None:
    """The silhouette in the space the clusterer sees (after a Pipeline's preprocessing), on
    at most :data:`SILHOUETTE_ROWS` rows; ``None`` where it is undefined."""
    from sklearn.metrics import silhouette_score

    distinct = len(np.unique(labels))
    if not 2 <= distinct < len(labels):
        return None
    steps = getattr(model, "steps", None)
    seen = model[:-1].transform(X) if isinstance(steps, list) and len(steps) > 1 else X
    if isinstance(seen, pd.DataFrame):
        if not all(pd.api.types.is_numeric_dtype(t) for t in seen.dtypes):
            return None
        seen = seen.to_numpy(dtype=np.float64)
    sample = min(len(labels), SILHOUETTE_ROWS)
    score = silhouette_score(seen, labels, sample_size=sample, random_state=0)
    return round(float(score), 6)

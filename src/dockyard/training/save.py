"""Save a user's fitted scikit-learn estimator or Pipeline as a bundle."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dockyard.__about__ import __version__
from dockyard.bundle import environment, schema, skopsfile
from dockyard.bundle.metadata import (
    NAME_RULE,
    UNSUPERVISED_TASKS,
    BundleMetadata,
    DataFingerprint,
    Environment,
    Evaluation,
    FeatureType,
    ModelFile,
    Target,
    Task,
    valid_name,
)
from dockyard.bundle.reference import training_reference
from dockyard.bundle.store import (
    MODEL_FILE,
    REVIEWED_TRUSTED_TYPES,
    checksum_files,
    load_bundle,
    untrusted_types,
    write_metadata,
)
from dockyard.errors import DockyardError, TrainingError, UntrustedTypes
from dockyard.files import new_directory_beside
from dockyard.predictor.golden import record_golden
from dockyard.runtime.export import export_onnx
from dockyard.training.columns import column_roles
from dockyard.training.contract import output_path, record_training
from dockyard.training.evaluation import EvaluationData
from dockyard.training.unsupervised import (
    Scores,
    check_servable,
    check_supervised,
    infer_task,
    outlier_labels,
)
from dockyard.training.unsupervised import evaluate as evaluate_unsupervised

CV_FOLDS = 5
# The target's name in bundles saved without one: the prediction is the model's own.
_TARGETS: dict[str, str] = {
    "classification": "target",
    "regression": "target",
    "clustering": "cluster",
    "outlier_detection": "outlier",
}


def _estimator_modules(obj: Any, seen: set[int] | None = None) -> Iterator[str]:
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    module = getattr(type(obj), "__module__", "") or ""
    if callable(obj) and not hasattr(obj, "get_params"):
        module = getattr(obj, "__module__", "") or module
    yield module
    if hasattr(obj, "get_params"):
        for value in obj.get_params(deep=True).values():
            if hasattr(value, "get_params") or callable(value):
                yield from _estimator_modules(value, seen)


def _required_packages(model: Any, frame_input: bool) -> dict[str, str]:
    roots = {"scikit-learn", "numpy", "skops"}
    if frame_input:
        roots.add("pandas")
    for module in _estimator_modules(model):
        if module in ("builtins", "") or module.startswith("__main__"):
            continue
        dist = environment.distribution_for_module(module)
        if dist:
            roots.add(dist)
    return environment.requirement_closure(roots)


def _infer_task(model: Any, task: Task | None, y: Any, y_test: Any, evaluate: bool) -> Task:
    from sklearn.base import is_classifier, is_regressor

    if not evaluate and (y is not None or y_test is not None):
        raise TrainingError("evaluate=False saves without data to measure on: pass y=None.")
    if task is None:
        if is_classifier(model):
            task = "classification"
        elif is_regressor(model):
            task = "regression"
        else:
            task = infer_task(model)
    if task in UNSUPERVISED_TASKS:
        if not evaluate:
            raise TrainingError(
                f"{type(model).__name__} is a {task.replace('_', ' ')} model: what it serves "
                "is described by the rows it was trained on, so it needs them (pass X).",
            )
        check_servable(model, task, y, y_test)
        return task
    check_supervised(model, task)
    if y is None and evaluate:
        raise TrainingError(
            f"{type(model).__name__} is saved as a {task} model, which needs its target: pass y."
        )
    return task


def _input_kind(model: Any, frame: pd.DataFrame) -> str:
    """ "frame" when the model was fitted on named DataFrame columns, else "array"."""
    fitted_names = getattr(model, "feature_names_in_", None)
    if fitted_names is not None:
        if [str(n) for n in fitted_names] != list(frame.columns):
            raise TrainingError(
                f"The model was fitted on columns {list(fitted_names)}, but X has "
                f"{list(frame.columns)}; pass the DataFrame it was fitted on."
            )
        return "frame"
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise TrainingError(
            f"Columns {non_numeric} are not numeric, but the model was fitted without column names.",
            hint="Fit a Pipeline with a ColumnTransformer on a DataFrame.",
        )
    return "array"


def _classes(model: Any) -> list[Any]:
    if not hasattr(model, "classes_"):
        raise TrainingError(f"{type(model).__name__} has no classes_; is it a classifier?")
    classes: list[Any] = np.asarray(model.classes_).tolist()
    return classes


def model_input(frame: pd.DataFrame, input_kind: str) -> Any:
    if input_kind == "column":
        return frame[frame.columns[0]].to_numpy()
    return frame if input_kind == "frame" else frame.to_numpy()


def _evaluate(
    model: Any,
    task: Task,
    frame: pd.DataFrame,
    y: Any,
    input_kind: str,
    X_test: Any,
    y_test: Any,
) -> tuple[Evaluation, EvaluationData]:
    if X_test is not None:
        test = schema.as_frame(X_test, list(frame.columns)).astype(frame.dtypes.to_dict())
        truth = np.asarray(y_test)
        predicted = np.asarray(model.predict(model_input(test, input_kind)))
        method, rows, shown = "holdout", len(test), test
    else:
        from sklearn.base import clone
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        folds = (
            StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
            if task == "classification"
            else KFold(CV_FOLDS, shuffle=True, random_state=0)
        )
        truth = np.asarray(y)
        predicted = np.asarray(
            cross_val_predict(clone(model), model_input(frame, input_kind), truth, cv=folds)
        )
        method, rows, shown = "cross_validation", len(frame), frame
    from dockyard.training.metrics import classification_metrics, regression_metrics

    metrics = (
        classification_metrics(truth, predicted)
        if task == "classification"
        else regression_metrics(truth, predicted)
    )
    evaluation = Evaluation(method=method, rows=rows, metrics=metrics)  # type: ignore[arg-type]
    return evaluation, EvaluationData(shown, truth, predicted, method)


def _summarise(
    model: Any,
    task: Task,
    frame: pd.DataFrame,
    y: Any,
    input_kind: str,
    X_test: Any,
    y_test: Any,
    evaluate: bool,
) -> tuple[list[Any] | None, Scores | None, Evaluation, EvaluationData]:
    """Classes, what a clustering or outlier bundle serves beside its label, the
    evaluation and the data the report draws."""
    if not evaluate:  # supervised (_infer_task refuses the rest): the metrics are unknown
        classes = _classes(model) if task == "classification" else None
        nothing = np.empty(0)
        unknown = Evaluation(method="not_evaluated", rows=0, metrics={})
        return classes, None, unknown, EvaluationData(frame, nothing, nothing, unknown.method)
    if task in UNSUPERVISED_TASKS:
        found = evaluate_unsupervised(
            model, task, frame, X_test, lambda f: model_input(f, input_kind)
        )
        evaluation = found.evaluation
        data = EvaluationData(
            found.shown,
            np.empty(0),
            found.labels,
            evaluation.method,
            found.score_values,
            evaluation.metrics,
        )
        return found.classes, found.scores, evaluation, data
    classes = _classes(model) if task == "classification" else None
    evaluation, data = _evaluate(model, task, frame, y, input_kind, X_test, y_test)
    return classes, None, evaluation, data


def save_bundle(
    model: Any,
    X: Any,
    y: Any,
    *,
    name: str,
    path: str | os.PathLike[str] | None = None,
    version: str = "1.0.0",
    description: str = "",
    X_test: Any = None,
    y_test: Any = None,
    task: Task | None = None,
    feature_names: Sequence[str] | None = None,
    feature_types: Mapping[str, FeatureType] | None = None,
    target_name: str | None = None,
    trusted_types: Sequence[str] = (),
    overwrite: bool = False,
    evaluate: bool = True,
) -> BundleMetadata:
    """Save a fitted estimator or Pipeline as a Dockyard bundle at ``path`` (by default
    ``$DOCKYARD_OUTPUT``, which ``dockyard train SCRIPT --out DIR`` sets; without it, ``./NAME``).

    ``X``/``y`` are the training data: the feature schema (names, types, ranges, categories)
    and the data fingerprint come from them. Held-out metrics come from ``X_test``/``y_test``
    when given, otherwise from 5-fold cross-validation of an unfitted clone.
    Clusterers and novelty detectors are saved with ``y=None``; they are summarised on
    ``X_test`` when given, otherwise on ``X`` (cluster sizes, the share flagged as outliers).
    The bundle is written to a temporary directory, loaded back and checked, then moved
    into place, so ``path`` never holds half a bundle.

    ``X`` may be one column (a list, Series or 1-D array, e.g. texts for
    ``make_pipeline(TfidfVectorizer(), LinearSVC())``): the bundle then has one feature,
    served to the model in that shape. A column the model feeds to a text vectorizer is a
    ``text`` feature; ``feature_types`` declares a column's kind where that inference
    cannot see it (``{"review": "text"}``; kinds: number, integer, boolean, category, text).

    ``evaluate=False`` saves a classifier or regressor without its training data (``y`` is
    then ``None``, and ``X`` is a few example rows that give only the schema): its metrics,
    training ranges and data fingerprint are recorded as unknown, never made up.
    """
    if not valid_name(name):
        raise TrainingError(f"name={name[:80]!r} is not a valid bundle name: it {NAME_RULE}.")
    if not 1 <= len(version) <= 64:
        raise TrainingError(f"version={version[:80]!r} must be 1 to 64 characters long.")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise TrainingError(
            f"{type(model).__name__} is not fitted; call fit() before save_bundle()."
        ) from None
    except TypeError as exc:
        raise TrainingError(
            f"{type(model).__name__} is not a scikit-learn estimator ({exc})."
        ) from None

    frame = schema.as_frame(X, feature_names)
    task = _infer_task(model, task, y, y_test, evaluate)
    if y is not None and len(np.asarray(y)) != len(frame):
        raise TrainingError(f"X has {len(frame)} rows but y has {len(np.asarray(y))}.")
    input_kind = "column" if schema.is_column(X) else _input_kind(model, frame)
    roles = column_roles(model, list(frame.columns))
    features = schema.infer_features(
        frame, declared=feature_types, text_columns=roles.text, open_columns=roles.open
    )
    if not evaluate:  # a few example rows: their extremes are not the training ranges
        features = [f.model_copy(update={"minimum": None, "maximum": None}) for f in features]
    classes, scores, evaluation, evaluation_data = _summarise(
        model, task, frame, y, input_kind, X_test, y_test, evaluate
    )
    target = target_name or (
        str(y.name) if isinstance(y, pd.Series) and y.name is not None else _TARGETS[task]
    )

    destination = output_path(path, name)
    if destination.exists() and not overwrite:
        raise TrainingError(
            f"{destination} already exists.", hint="Choose another path or pass overwrite=True."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    workdir = new_directory_beside(destination)
    try:
        skopsfile.dump(model, workdir / MODEL_FILE)
        needed = untrusted_types(workdir / MODEL_FILE)
        unknown = sorted(set(needed) - set(REVIEWED_TRUSTED_TYPES) - set(trusted_types))
        if unknown:
            raise UntrustedTypes(
                f"{type(model).__name__} needs types Dockyard has not reviewed: {', '.join(unknown)}.",
                hint="If they are yours and safe, pass trusted_types=[...] naming them.",
            )
        _write_extras(workdir, model, evaluation_data, task, classes)
        training = record_training(workdir)
        runtime = export_onnx(workdir, model, frame, features, input_kind, task, scores)
        metadata = BundleMetadata(
            name=name,
            version=version,
            description=description,
            created_at=datetime.now(UTC).replace(microsecond=0),
            dockyard_version=__version__,
            task=task,
            model=ModelFile(
                path=MODEL_FILE,
                format="skops",
                estimator=f"{type(model).__module__}.{type(model).__qualname__}",
                input=input_kind,  # type: ignore[arg-type]
                trusted_types=sorted(set(needed) - set(REVIEWED_TRUSTED_TYPES)),
            ),
            features=features,
            target=Target(name=target, classes=classes, scores=scores),
            evaluation=evaluation,
            data=schema.fingerprint(frame, () if y is None else y)
            if evaluate
            else DataFingerprint(sha256="", rows=0, columns=frame.shape[1]),
            environment=Environment(
                python=environment.python_version(),
                platform=environment.platform_tag(),
                packages=_required_packages(model, input_kind == "frame"),
            ),
            input_example=schema.input_example(frame, features, rows=1),
            files=checksum_files(workdir),
            runtime=runtime,
            training=training,
            reference=training_reference(
                frame, features, task, _predicted(model, frame, input_kind, task), classes
            ),
        )
        write_metadata(workdir, metadata)
        metadata = record_golden(workdir, metadata, trusted_types=trusted_types)
        _check_round_trip(workdir, model, frame, input_kind, trusted_types)
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(workdir, destination)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return metadata


def _predicted(model: Any, frame: pd.DataFrame, input_kind: str, task: Task) -> np.ndarray:
    """The model's predictions on its training rows, as the server answers them."""
    with np.errstate(all="ignore"):
        predicted = np.asarray(model.predict(model_input(frame, input_kind))).reshape(-1)
    return outlier_labels(predicted) if task == "outlier_detection" else predicted


def _write_extras(
    directory: Path, model: Any, evaluation: EvaluationData, task: Task, classes: list[Any] | None
) -> None:
    """Files written beside the model (reports); each is checksummed like the model."""
    from dockyard.training.report import write_report

    write_report(directory, model, evaluation, task, classes)


def _check_round_trip(
    directory: Path, model: Any, frame: pd.DataFrame, input_kind: str, trusted: Sequence[str]
) -> None:
    sample = frame.head(min(len(frame), 64))
    try:
        loaded = load_bundle(directory, trusted_types=tuple(trusted)).model
    except DockyardError as exc:
        raise TrainingError(f"The bundle does not load back: {exc}") from None
    before = np.asarray(model.predict(model_input(sample, input_kind)))
    after = np.asarray(loaded.predict(model_input(sample, input_kind)))
    if not np.array_equal(before, after):
        raise TrainingError(
            "The saved model predicts differently from the original; not saving it."
        )

"""What the pages show, computed from a bundle's metadata: the model card's tables and
metrics, with the form's fields (:mod:`dockyard.web.fields`) and the training report
(:mod:`dockyard.web.reports`). Plain data for the templates; no HTTP here.

Nothing here imports pandas or matplotlib: the pages run in the serving image.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.bundle.environment import installed_version
from dockyard.bundle.metadata import BundleMetadata
from dockyard.bundle.report_manifest import format_metric, metric_label
from dockyard.predictor import Predictor, label_text
from dockyard.web.fields import Field, build_field, humanize, range_text, value_text
from dockyard.web.groups import (
    TASK_LABELS,
    GroupRow,
    answer_note,
    group_caption,
    group_rows,
    training_text,
)
from dockyard.web.reports import Report, load_report, report_path

_TASKS = {"classification": "Classifier", "regression": "Regressor", **TASK_LABELS}


def evaluation_text(metadata: BundleMetadata) -> tuple[str, str]:
    """Where the metrics come from: a short phrase, and a sentence that explains it."""
    evaluation = metadata.evaluation
    rows = f"{evaluation.rows:,} rows"
    if evaluation.method == "training_data":
        return training_text(metadata)
    if evaluation.method == "not_evaluated":
        return (
            "on no data (unknown)",
            "Unknown: the model was imported without data to measure it on.",
        )
    if evaluation.method == "holdout":
        return (
            f"on a held-out test set of {rows}",
            f"Measured on a held-out test set of {rows} the model did not train on.",
        )
    return (
        f"in cross-validation over {rows}",
        f"Measured by 5-fold cross-validation over {rows}: each row was predicted by a model "
        "trained without it.",
    )


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class FeatureRow:
    name: str
    type: str
    range: str
    nullable: bool
    example: str


@dataclass(frozen=True, slots=True)
class PackageRow:
    name: str
    recorded: str
    running: str

    @property
    def matches(self) -> bool:
        return self.recorded == self.running


@dataclass(frozen=True, slots=True)
class ModelView:
    """Everything the index and model pages show about one served model."""

    name: str
    version: str
    task: str
    task_label: str
    description: str
    estimator: str
    """The class that predicts: the last step of a Pipeline, e.g. ``LogisticRegression``."""
    estimator_path: str
    estimator_steps: str
    """The steps of a Pipeline, ``StandardScaler → LogisticRegression``; else empty."""
    headline: Metric
    metrics: tuple[Metric, ...]
    evaluation: str
    evaluation_note: str
    created_at: str
    dockyard_version: str
    target: str
    target_label: str
    classes: tuple[str, ...]
    data_rows: int
    data_columns: int
    data_sha256: str
    bundle_sha256: str
    python: str
    """Empty when versions are not shown (see ``versions_shown``)."""
    platform: str
    fields: tuple[Field, ...]
    features: tuple[FeatureRow, ...]
    packages: tuple[PackageRow, ...]
    output_columns: tuple[str, ...]
    has_probabilities: bool
    report: Report | None
    groups: tuple[GroupRow, ...] = ()
    """Clustering and outlier bundles: evaluated rows per cluster, or inliers and outliers."""
    groups_caption: str = ""
    answer_note: str = ""


def _metrics(metadata: BundleMetadata) -> tuple[Metric, ...]:
    return tuple(
        Metric(k, metric_label(k), format_metric(k, v))
        for k, v in metadata.evaluation.metrics.items()
    )


def model_view(predictor: Predictor, *, report_url: str, versions: bool = True) -> ModelView:
    """What the pages show of ``predictor``; exact Python and package versions only with
    ``versions``."""
    meta = predictor.metadata
    example = meta.input_example[0] if meta.input_example else {}
    headline_key, headline_value = meta.headline_metric()
    estimator_path = meta.model.estimator
    report = load_report(predictor, report_url)
    # bundle.json names only the outer class; the report records a Pipeline's steps.
    steps = ""
    if report is not None and ": " in report.estimator:
        steps = report.estimator.split(": ", 1)[1]
    estimator = steps.rsplit(" \u2192 ", 1)[-1] if steps else estimator_path.rsplit(".", 1)[-1]
    fields = tuple(build_field(i, f, example.get(f.name)) for i, f in enumerate(meta.features))
    features = tuple(
        FeatureRow(f.name, f.type, range_text(f), f.nullable, value_text(example.get(f.name)))
        for f in meta.features
    )
    packages = tuple(
        PackageRow(name, recorded, installed_version(name) or "not installed")
        for name, recorded in (meta.environment.packages.items() if versions else ())
    )
    return ModelView(
        name=meta.name,
        version=meta.version,
        task=meta.task,
        task_label=_TASKS[meta.task],
        description=meta.description,
        estimator=estimator,
        estimator_path=estimator_path,
        estimator_steps=steps,
        headline=Metric(
            headline_key,
            metric_label(headline_key),
            "unknown" if headline_value is None else format_metric(headline_key, headline_value),
        ),
        metrics=_metrics(meta),
        evaluation=evaluation_text(meta)[0],
        evaluation_note=evaluation_text(meta)[1],
        created_at=f"{meta.created_at:%Y-%m-%d %H:%M} UTC",
        dockyard_version=meta.dockyard_version,
        target=meta.target.name,
        target_label=humanize(meta.target.name),
        classes=tuple(label_text(c) for c in meta.classes),
        data_rows=meta.data.rows,
        data_columns=meta.data.columns,
        data_sha256=meta.data.sha256,
        bundle_sha256=predictor.digest,
        python=meta.environment.python if versions else "",
        platform=meta.environment.platform if versions else "",
        fields=fields,
        features=features,
        packages=packages,
        output_columns=tuple(predictor.output_columns),
        has_probabilities=predictor.has_probabilities,
        report=report,
        groups=group_rows(meta),
        groups_caption=group_caption(meta),
        answer_note=answer_note(meta) if predictor.unsupervised else "",
    )


def example_csv(predictor: Predictor) -> str:
    """A CSV of the input examples: the header a scoring upload needs, and rows to try."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = predictor.metadata.feature_names
    writer.writerow(names)
    for record in predictor.metadata.input_example:
        writer.writerow([value_text(record.get(n)) for n in names])
    return out.getvalue()


__all__ = ["Metric", "ModelView", "evaluation_text", "example_csv", "model_view", "report_path"]

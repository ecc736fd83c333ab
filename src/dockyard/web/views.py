"""What the pages show, computed from a bundle's metadata: form fields, the model card's
tables, the training report's figures. Plain data for the templates; no HTTP here.

Nothing here imports pandas or matplotlib: the pages run in the serving image.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from dockyard.bundle.environment import installed_version
from dockyard.bundle.metadata import BundleMetadata, Feature, Scalar
from dockyard.predictor import Predictor, label_text
from dockyard.web.groups import (
    METRIC_LABELS,
    TASK_LABELS,
    GroupRow,
    answer_note,
    group_caption,
    group_rows,
    training_text,
)

REPORT_DIR = "report"
REPORT_INDEX = "index.html"
REPORT_MANIFEST = "report.json"

# Above this many categories a <select> is a chore to scroll; a text box with suggestions
# is quicker to use and still lists every value.
SELECT_LIMIT = 40

_METRICS = {
    "accuracy": "Accuracy",
    "f1_macro": "F1 (macro average)",
    "r2": "R²",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    **METRIC_LABELS,
}
_TO = " \u2013 "  # an en dash between the ends of a range
_TASKS = {"classification": "Classifier", "regression": "Regressor", **TASK_LABELS}


def humanize(name: str) -> str:
    """``sepal_length`` → ``Sepal length``: a label a person reads; the key stays visible."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else name


def format_number(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}" if not float(value).is_integer() else f"{value:.0f}"
    return f"{value:.3g}"


def format_metric(name: str, value: float) -> str:
    if name == "accuracy":
        return f"{value:.1%}"
    if name in ("f1_macro", "r2", "silhouette"):
        return f"{value:.3f}"
    if name.endswith("_share"):
        return f"{value:.1%}"
    return format_number(value)


def metric_label(name: str) -> str:
    return _METRICS.get(name, humanize(name))


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
class Option:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True, slots=True)
class Field:
    """One form control, generated from one feature of the schema."""

    id: str
    name: str
    label: str
    type: str
    """The schema type: number, integer, boolean, category or text."""
    control: str
    """How it is shown: number, checkbox, select, text (with suggestions in a datalist), or
    textarea (free text)."""
    value: str
    required: bool
    options: tuple[Option, ...] = ()
    minimum: str | None = None
    maximum: str | None = None
    step: str | None = None
    hint: str = ""


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
class ReportFigure:
    url: str
    title: str
    caption: str
    alt: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ClassRow:
    name: str
    precision: str
    recall: str
    f1: str
    support: int


@dataclass(frozen=True, slots=True)
class Report:
    url: str
    estimator: str
    """As the report describes it, e.g. ``Pipeline: StandardScaler → LogisticRegression``."""
    figures: tuple[ReportFigure, ...]
    per_class: tuple[ClassRow, ...]


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


def _value_text(value: Scalar | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def _range_text(feature: Feature) -> str:
    if feature.categories is not None:
        shown = ", ".join(feature.categories[:8])
        more = len(feature.categories) - 8
        unseen = "; unseen ones accepted" if feature.accepts_unknown else ""
        return shown + (f", … ({more} more)" if more > 0 else "") + unseen
    if feature.minimum is not None and feature.maximum is not None:
        return f"{format_number(feature.minimum)}{_TO}{format_number(feature.maximum)}"
    if feature.type == "text":
        return "free text"
    if feature.type == "boolean":
        return "true or false"
    return ""


def build_field(index: int, feature: Feature, example: Scalar | None) -> Field:
    identifier = f"f-{index}"
    label = humanize(feature.name)
    required = not feature.nullable
    if feature.type in ("number", "integer"):
        hint = ""
        if feature.minimum is not None and feature.maximum is not None:
            hint = (
                f"Trained on {format_number(feature.minimum)}{_TO}{format_number(feature.maximum)}"
            )
        return Field(
            identifier,
            feature.name,
            label,
            feature.type,
            "number",
            _value_text(example),
            required,
            # The exact float, not the rounded text: an example at the very edge of the
            # range must not look out of range.
            minimum=repr(feature.minimum) if feature.minimum is not None else None,
            maximum=repr(feature.maximum) if feature.maximum is not None else None,
            # "any" keeps every real value valid; an integer takes whole steps.
            step="1" if feature.type == "integer" else "any",
            hint=hint,
        )
    if feature.type == "boolean":
        if feature.nullable:
            current = _value_text(example)
            options = tuple(
                Option(v, text, v == current)
                for v, text in (("", "(missing)"), ("true", "Yes"), ("false", "No"))
            )
            return Field(
                identifier, feature.name, label, "boolean", "select", current, required, options
            )
        return Field(
            identifier,
            feature.name,
            label,
            "boolean",
            "checkbox",
            "true" if example is True else "false",
            required,
        )
    current = _value_text(example)
    if feature.type == "text":
        return Field(
            identifier, feature.name, label, "text", "textarea", current, required, hint="Free text"
        )
    categories = feature.categories
    # A <select> offers only the training categories; a model that accepts unseen ones
    # gets a text box that suggests them.
    if categories is not None and len(categories) <= SELECT_LIMIT and not feature.accepts_unknown:
        options = tuple(Option(c, c, c == current) for c in categories)
        if feature.nullable:
            options = (Option("", "(missing)", current == ""), *options)
        return Field(
            identifier,
            feature.name,
            label,
            "category",
            "select",
            current,
            required,
            options,
            hint=f"{len(categories)} categories",
        )
    options = tuple(Option(c, c, False) for c in categories or ())
    hint = (
        f"{len(options):,} known categories, or a new one; start typing"
        if feature.accepts_unknown
        else f"One of {len(options):,} categories; start typing"
    )
    return Field(
        identifier, feature.name, label, "category", "text", current, required, options, hint=hint
    )


def _metrics(metadata: BundleMetadata) -> tuple[Metric, ...]:
    return tuple(
        Metric(k, metric_label(k), format_metric(k, v))
        for k, v in metadata.evaluation.metrics.items()
    )


def load_report(predictor: Predictor, base_url: str) -> Report | None:
    """The report's figures, from ``report/report.json`` in the bundle; ``None`` if the
    bundle has none (saved before reports, or a hand-made bundle)."""
    files = predictor.metadata.files
    manifest_key = f"{REPORT_DIR}/{REPORT_MANIFEST}"
    if manifest_key not in files or f"{REPORT_DIR}/{REPORT_INDEX}" not in files:
        return None
    try:
        doc = json.loads((predictor.bundle.path / manifest_key).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    # The manifest is checksummed with the bundle, but a page must not fail over one odd
    # entry: what cannot be read is left out.
    figures: list[ReportFigure] = []
    for item in doc.get("figures") or []:
        if not isinstance(item, dict) or f"{REPORT_DIR}/{item.get('file')}" not in files:
            continue
        try:
            figures.append(
                ReportFigure(
                    url=f"{base_url}/{item['file']}",
                    title=str(item.get("title", "")),
                    caption=str(item.get("caption", "")),
                    alt=str(item.get("alt", "")),
                    width=int(item.get("width", 0)),
                    height=int(item.get("height", 0)),
                )
            )
        except (TypeError, ValueError):
            continue
    per_class: list[ClassRow] = []
    for row in doc.get("per_class") or []:
        try:
            per_class.append(
                ClassRow(
                    str(row["class"]),
                    f"{float(row['precision']):.3f}",
                    f"{float(row['recall']):.3f}",
                    f"{float(row['f1']):.3f}",
                    int(row["support"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    estimator = str(doc.get("estimator", ""))
    return Report(f"{base_url}/{REPORT_INDEX}", estimator, tuple(figures), tuple(per_class))


def report_path(predictor: Predictor, file: str) -> Path | None:
    """The bundle file behind a report URL, only if the bundle's checksums list it."""
    key = f"{REPORT_DIR}/{file}"
    if "/" in file or key not in predictor.metadata.files:
        return None
    return predictor.bundle.path / key


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
        FeatureRow(f.name, f.type, _range_text(f), f.nullable, _value_text(example.get(f.name)))
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
        writer.writerow([_value_text(record.get(n)) for n in names])
    return out.getvalue()

"""The training report's manifest, ``report/report.json``: its files, its fields, how its
metrics are named and how its numbers are written.

Training writes it (:mod:`dockyard.training.report`) and the web pages read it
(:mod:`dockyard.web.reports`); both take every name and format from here, so the page
shows what the report says. Standard library only: the serving image imports it without
pandas or matplotlib.

``{"schema": 1, "task", "estimator", "evaluation": {"method", "rows"}, "metrics": {...},
"per_class": [{"class", "precision", "recall", "f1", "support"}] | null,
"figures": [{"file", "title", "caption", "alt", "width", "height"}]}``
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Final

REPORT_DIR: Final = "report"
INDEX_FILE: Final = "index.html"
MANIFEST_FILE: Final = "report.json"
INDEX_PATH: Final = f"{REPORT_DIR}/{INDEX_FILE}"
"""Paths inside the bundle, as ``bundle.json`` lists them."""
MANIFEST_PATH: Final = f"{REPORT_DIR}/{MANIFEST_FILE}"
MANIFEST_SCHEMA: Final = 1

METRIC_LABELS: Final = {
    "accuracy": "Accuracy",
    "f1_macro": "F1 (macro average)",
    "r2": "R²",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "clusters": "Clusters",
    "silhouette": "Silhouette",
    "largest_cluster_share": "Largest cluster",
    "inertia": "Inertia",
    "outlier_share": "Flagged as outliers",
    "outliers": "Outliers",
}
"""How the report, the model card and ``dockyard inspect`` name metrics."""
_PERCENT = frozenset({"accuracy"})
_THREE_DECIMALS = frozenset({"f1_macro", "r2", "silhouette"})
_METHOD_WORDS = {"holdout": "held-out", "training_data": "training", "not_evaluated": ""}


def metric_label(name: str) -> str:
    """``Accuracy``; a metric without a label reads as its words, ``Some metric``."""
    label = METRIC_LABELS.get(name)
    if label is not None:
        return label
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else name


def format_number(value: float) -> str:
    """A plain number: whole ones in full below a million, others to 4 significant digits,
    very small or large ones in scientific notation to 3."""
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}" if not float(value).is_integer() else f"{value:.0f}"
    return f"{value:.3g}"


def format_metric(name: str, value: float) -> str:
    """A metric as people read it: accuracy and shares as percentages, scores bounded by 1
    to 3 decimals, the rest as :func:`format_number`."""
    if name in _PERCENT or name.endswith("_share"):
        return f"{value:.1%}"
    if name in _THREE_DECIMALS:
        return f"{value:.3f}"
    return format_number(value)


def format_score(value: float) -> str:
    """A per-class precision, recall or F1."""
    return f"{value:.3f}"


def method_words(method: str) -> str:
    """The rows a report's figures show: ``held-out``, ``training`` or ``cross-validated``
    (nothing for a model saved without data to measure it on)."""
    return _METHOD_WORDS.get(method, "cross-validated")


@dataclass(frozen=True, slots=True)
class Figure:
    file: str
    """A PNG beside the manifest in ``report/``."""
    title: str
    caption: str
    alt: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Manifest:
    task: str
    estimator: str
    """``LogisticRegression``, or ``Pipeline: StandardScaler → LogisticRegression``."""
    method: str
    rows: int
    metrics: dict[str, float]
    per_class: tuple[ClassScores, ...] | None
    figures: tuple[Figure, ...]

    def to_json(self) -> str:
        """The manifest's text: sorted keys, so the same report gives the same bytes."""
        doc = {
            "schema": MANIFEST_SCHEMA,
            "task": self.task,
            "estimator": self.estimator,
            "evaluation": {"method": self.method, "rows": self.rows},
            "metrics": self.metrics,
            "per_class": None
            if self.per_class is None
            else [
                {
                    "class": c.name,
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "support": c.support,
                }
                for c in self.per_class
            ],
            "figures": [asdict(f) for f in self.figures],
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest | None:
        """The manifest in ``text``; ``None`` if it is not one this version reads. The file
        is checksummed with the bundle, but a page must not fail over one odd entry: an
        entry that cannot be read is left out."""
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.get("schema", MANIFEST_SCHEMA) != MANIFEST_SCHEMA:
            return None
        evaluation = doc.get("evaluation")
        evaluation = evaluation if isinstance(evaluation, dict) else {}
        metrics = doc.get("metrics")
        rows = doc.get("per_class")
        return cls(
            task=str(doc.get("task", "")),
            estimator=str(doc.get("estimator", "")),
            method=str(evaluation.get("method", "")),
            rows=_integer(evaluation.get("rows")) or 0,
            metrics={
                str(k): float(v)
                for k, v in (metrics.items() if isinstance(metrics, dict) else ())
                if isinstance(v, int | float) and not isinstance(v, bool)
            },
            per_class=None
            if not isinstance(rows, list)
            else tuple(filter(None, (_class_scores(r) for r in rows))),
            figures=tuple(filter(None, (_figure(f) for f in doc.get("figures") or ()))),
        )


def _integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _class_scores(row: Any) -> ClassScores | None:
    if not isinstance(row, dict):
        return None
    try:
        return ClassScores(
            str(row["class"]),
            float(row["precision"]),
            float(row["recall"]),
            float(row["f1"]),
            int(row["support"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _figure(item: Any) -> Figure | None:
    if not isinstance(item, dict) or not isinstance(item.get("file"), str):
        return None
    width, height = _integer(item.get("width", 0)), _integer(item.get("height", 0))
    if width is None or height is None:
        return None
    return Figure(
        item["file"],
        str(item.get("title", "")),
        str(item.get("caption", "")),
        str(item.get("alt", "")),
        width,
        height,
    )

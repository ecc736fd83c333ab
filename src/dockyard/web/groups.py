"""The model card's parts for clustering and outlier-detection bundles: how many evaluated
rows fell in each cluster (or were flagged as outliers), and how to say where the numbers
come from. Plain data for the templates, read from ``bundle.json`` alone."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.bundle.metadata import BundleMetadata

TASK_LABELS = {"clustering": "Clusterer", "outlier_detection": "Outlier detector"}


@dataclass(frozen=True, slots=True)
class GroupRow:
    name: str
    rows: str
    share: str


def group_caption(metadata: BundleMetadata) -> str:
    return "Cluster sizes" if metadata.task == "clustering" else "Inliers and outliers"


def group_rows(metadata: BundleMetadata) -> tuple[GroupRow, ...]:
    """One row per cluster (or ``inlier``/``outlier``), with its share of the evaluated rows."""
    counts = metadata.evaluation.counts
    total = sum(counts.values())
    return tuple(
        GroupRow(name, f"{rows:,}", f"{rows / total:.1%}" if total else "")
        for name, rows in counts.items()
    )


def training_text(metadata: BundleMetadata) -> tuple[str, str]:
    """Where the metrics of a model without a target come from: the rows it was fitted on."""
    rows = f"{metadata.evaluation.rows:,} rows"
    what = "each row's cluster" if metadata.task == "clustering" else "which rows it flags"
    return (
        f"on the {rows} it was trained on",
        f"The model has no target to test against: these numbers describe {what} "
        f"among the {rows} it was trained on.",
    )


def answer_note(metadata: BundleMetadata) -> str:
    """What the form's answer will show, before the first prediction."""
    scores = metadata.target.scores
    if metadata.task == "clustering":
        extra = {
            "distances": " and the distance to each cluster centre",
            "probabilities": " and the probability of each cluster",
        }.get(scores or "", "")
        return f"The cluster{extra} will appear here."
    extra = " and its score" if scores == "score" else ""
    return f"Whether the row is an inlier or an outlier{extra} will appear here."

"""The training report's figures for clustering and outlier-detection bundles.

Cluster sizes and the features coloured by cluster; for outliers, how the scores spread
and the features coloured by inlier/outlier. Like :mod:`dockyard.training.report`, it
uses matplotlib's object API only, inside the caller's style context (colours ``C0``…
follow the report's palette), with fixed subsampling so the PNGs are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dockyard.bundle.report_manifest import method_words

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dockyard.training.evaluation import EvaluationData

MAX_POINTS = 2_000
MAX_PAIR_FEATURES = 4
MAX_GROUPS = 10  # colours in the palette; more clusters are drawn in grey


# A figure for the report: file name, figure, title, caption, alt text.
ReportItem = tuple[str, "Figure", str, str, str]


def figures(evaluation: EvaluationData, task: str, classes: Sequence[Any]) -> Iterator[ReportItem]:
    shown = method_words(evaluation.method)
    labels = np.asarray(evaluation.y_pred).astype(str)
    groups = [str(c) for c in classes]
    numeric = _numeric_columns(evaluation)
    if task == "clustering":
        yield (
            "cluster_sizes.png",
            _sizes(labels, groups, "Cluster"),
            "Cluster sizes",
            f"How many of the {len(labels):,} {shown} rows fall in each cluster.",
            "Bar chart of rows per cluster: "
            + ", ".join(f"{g}: {int((labels == g).sum())}" for g in groups)
            + ".",
        )
        noun = "cluster"
    else:
        scores = evaluation.scores
        if scores is not None:
            yield (
                "outlier_scores.png",
                _score_histogram(np.asarray(scores, dtype=np.float64)),
                "Outlier scores",
                f"The score of each {shown} row. Rows left of zero are flagged as outliers; "
                "the lower the score, the more unusual the row.",
                "Histogram of outlier scores with the threshold at zero.",
            )
        noun = "inlier or outlier"
    if len(numeric) >= 2:
        yield (
            "feature_pairs.png",
            _pairs(evaluation, labels, groups, numeric[:MAX_PAIR_FEATURES]),
            "Features by " + ("cluster" if task == "clustering" else "outlier"),
            f"Pairs of the first numeric features, each {shown} row coloured by its {noun}.",
            "Grid of scatter plots of "
            + ", ".join(numeric[:MAX_PAIR_FEATURES])
            + f" coloured by {noun}.",
        )


def _numeric_columns(evaluation: EvaluationData) -> list[str]:
    import pandas as pd

    frame = evaluation.X
    return [
        str(c)
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _color(index: int) -> str:
    return f"C{index}" if index < MAX_GROUPS else "#94a3b8"


def _sizes(labels: np.ndarray, groups: list[str], noun: str) -> Figure:
    counts = [int((labels == g).sum()) for g in groups]
    figure = _new_figure(max(4.0, 0.5 * len(groups) + 2), 3.2)
    axes = figure.add_subplot()
    bars = axes.bar(range(len(groups)), counts, color=[_color(i) for i in range(len(groups))])
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=2)
    axes.set_xticks(range(len(groups)), groups)
    axes.set_xlabel(noun)
    axes.set_ylabel("rows")
    axes.margins(y=0.15)
    return figure


def _score_histogram(scores: np.ndarray) -> Figure:
    finite = scores[np.isfinite(scores)]
    figure = _new_figure(6.0, 3.2)
    axes = figure.add_subplot()
    bins = int(min(50, max(5, np.sqrt(len(finite)))))
    axes.hist(finite[finite >= 0], bins=bins, color="C0", label="inlier")
    axes.hist(finite[finite < 0], bins=bins, color="C1", label="outlier")
    axes.axvline(0.0, color="#0f172a", linestyle="--", linewidth=1)
    axes.set_xlabel("score (decision function)")
    axes.set_ylabel("rows")
    axes.legend(frameon=False)
    return figure


def _pairs(
    evaluation: EvaluationData, labels: np.ndarray, groups: list[str], numeric: list[str]
) -> Figure:
    rows = len(labels)
    keep = (
        np.sort(np.random.default_rng(0).choice(rows, MAX_POINTS, replace=False))
        if rows > MAX_POINTS
        else np.arange(rows)
    )
    frame = evaluation.X.iloc[keep]
    shown = labels[keep]
    pairs = [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1 :]]
    columns = min(3, len(pairs))
    lines = -(-len(pairs) // columns)
    figure = _new_figure(3.2 * columns, 3.0 * lines)
    grid = figure.subplots(lines, columns, squeeze=False)
    for axes, (x, y) in zip(grid.ravel(), pairs, strict=False):
        for index, group in enumerate(groups):
            chosen = shown == group
            axes.scatter(
                frame[x].to_numpy(dtype=np.float64)[chosen],
                frame[y].to_numpy(dtype=np.float64)[chosen],
                s=8,
                alpha=0.7,
                color=_color(index),
                label=group,
            )
        axes.set_xlabel(x)
        axes.set_ylabel(y)
    for axes in grid.ravel()[len(pairs) :]:
        axes.set_visible(False)
    handles, names = grid.ravel()[0].get_legend_handles_labels()
    figure.legend(
        handles[:MAX_GROUPS], names[:MAX_GROUPS], loc="outside right upper", frameon=False
    )
    return figure

"""The training report's figures for classification and regression bundles.

A confusion matrix (classification) or predicted-vs-actual and residual plots (regression),
and feature distributions by class (the pair plot the Iris tutorials draw). matplotlib's
object API only, never pyplot, imported inside the functions: serving never needs it.
Subsampling uses fixed seeds, so the same evaluation draws the same pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dockyard.training.evaluation import EvaluationData

MAX_FEATURES = 6
"""Features drawn in the distribution grid (the first ones, in model order)."""
MAX_PAIR_FEATURES = 4
"""Numeric features in the pair plot: 4 gives 16 panels, still readable on a phone."""
MAX_POINTS = 2000
"""Scatter plots draw at most this many rows, chosen with a fixed seed."""
MAX_CLASSES = 10
"""Classes coloured separately in distribution plots; the rest are left out, and said so."""
MAX_CATEGORIES = 8
"""Most frequent categories drawn per categorical feature."""

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#999999",
    "#882255",
)
_ACCENT = "#0e7490"
_RESIDUAL = "Actual \u2212 predicted"  # a real minus sign, typeset like one
STYLE: dict[str, Any] = {
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlecolor": "#0f172a",
    "axes.labelcolor": "#334155",
    "axes.edgecolor": "#94a3b8",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.8,
    "xtick.color": "#475569",
    "ytick.color": "#475569",
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def new_figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _short(value: Any, limit: int = 18) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def confusion_matrix_figure(evaluation: EvaluationData, classes: list[Any]) -> Figure:
    from sklearn.metrics import confusion_matrix

    labels = classes or sorted(set(evaluation.y_true.tolist()))
    counts = confusion_matrix(evaluation.y_true, evaluation.y_pred, labels=labels)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    n = len(labels)
    side = min(max(3.2 + 0.6 * n, 4.6), 11.0)
    figure = new_figure(side + 0.8, side)
    ax = figure.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.grid(False)
    names = [_short(c) for c in labels]
    ax.set_xticks(range(n), names, rotation=45 if n > 4 or max(map(len, names)) > 8 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.tick_params(length=0)
    for side_name in ("left", "bottom"):
        ax.spines[side_name].set_visible(False)
    if n <= 20:
        size = 9.5 if n <= 8 else 7
        for i in range(n):
            for j in range(n):
                color = "white" if share[i, j] > 0.55 else "#0f172a"
                text = f"{counts[i, j]}" if n > 8 else f"{counts[i, j]}\n{share[i, j]:.0%}"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=size)
    bar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("Share of the true class")
    bar.outline.set_visible(False)
    return figure


def confusion_alt(evaluation: EvaluationData, classes: list[Any]) -> str:
    truth = evaluation.y_true
    correct = int(np.sum(truth == evaluation.y_pred))
    return (
        f"Confusion matrix of {len(classes)} classes: {correct} of {len(truth)} rows "
        "predicted correctly; the rest are off the diagonal."
    )


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    import pandas as pd

    return [
        str(c)
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


def plotted_names(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns[:MAX_FEATURES]]


def _grid(count: int) -> tuple[int, int]:
    cols = 1 if count == 1 else 2 if count in (2, 4) else 3
    return math.ceil(count / cols), cols


def _sample(rows: int, seed: int = 0) -> np.ndarray:
    if rows <= MAX_POINTS:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, MAX_POINTS, replace=False))


def _class_groups(
    evaluation: EvaluationData, classes: list[Any]
) -> tuple[list[Any], list[np.ndarray], str]:
    """The classes drawn (most frequent first when there are too many) and their row masks."""
    truth = evaluation.y_true
    labels = classes or sorted(set(truth.tolist()))
    note = ""
    if len(labels) > MAX_CLASSES:
        frequency = {label: int(np.sum(truth == label)) for label in labels}
        kept = sorted(labels, key=lambda c: -frequency[c])[:MAX_CLASSES]
        labels = [c for c in labels if c in kept]
        note = f"the {MAX_CLASSES} most frequent of {len(frequency)} classes shown"
    return labels, [truth == label for label in labels], note


def _categories(column: pd.Series) -> list[str]:
    counts = column.dropna().astype(str).value_counts()
    return sorted(counts.index[:MAX_CATEGORIES].tolist())


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    """A Gaussian kernel density estimate (Scott's bandwidth) of ``values`` on ``grid``;
    ``None`` when there are too few distinct values to estimate one."""
    values = values[np.isfinite(values)]
    if len(values) < 2 or _bins(values, 2) == 1:
        return None
    values = values[_sample(len(values))]
    bandwidth = float(np.std(values, ddof=1)) * len(values) ** (-1 / 5)
    z = (grid[:, None] - values[None, :]) / bandwidth
    density: np.ndarray = np.exp(-0.5 * z**2).sum(axis=1) / (
        len(values) * bandwidth * math.sqrt(2 * math.pi)
    )
    return density


def _density_grid(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return np.linspace(0.0, 1.0, 2)
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * 0.08 or 0.5
    return np.linspace(low - pad, high + pad, 160)


def _draw_densities(
    ax: Axes, values: np.ndarray, masks: list[np.ndarray], colors: list[str]
) -> None:
    grid = _density_grid(values)
    for mask, color in zip(masks, colors, strict=True):
        part = values[mask]
        density = _density(part, grid)
        if density is None:
            # One distinct value: a spike where it sits, scaled to the others' heights.
            finite = part[np.isfinite(part)]
            if len(finite):
                ax.axvline(float(finite[0]), color=color, linewidth=2)
            continue
        ax.fill_between(grid, density, color=color, alpha=0.25, linewidth=0)
        ax.plot(grid, density, color=color, linewidth=1.5)
    ax.set_xlim(float(grid[0]), float(grid[-1]))
    ax.set_ylim(bottom=0)


def class_distributions(evaluation: EvaluationData, classes: list[Any]) -> Figure:
    import pandas as pd

    frame = evaluation.X
    names = plotted_names(frame)
    numeric = set(numeric_columns(frame))
    labels, masks, note = _class_groups(evaluation, classes)
    rows, cols = _grid(len(names))
    figure = new_figure(3.4 * cols, 2.5 * rows + 0.4)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
    for ax, name in zip(axes, names, strict=False):
        column = frame[name]
        ax.set_title(_short(name, 28))
        if name in numeric:
            _draw_densities(ax, column.to_numpy(dtype="float64"), masks, colors)
            # Density units mean nothing to a reader; the shapes and overlaps do.
            ax.set_yticks([])
            ax.spines["left"].set_visible(False)
            ax.grid(axis="y", visible=False)
        else:
            text = column.astype(str).where(column.notna(), None)
            categories = _categories(column)
            positions = np.arange(len(categories))
            width = 0.8 / max(len(labels), 1)
            for k, (mask, color) in enumerate(zip(masks, colors, strict=True)):
                counts = pd.Series(text[mask]).value_counts()
                heights = [int(counts.get(c, 0)) for c in categories]
                ax.bar(positions + k * width - 0.4 + width / 2, heights, width, color=color)
            ax.set_xticks(positions, [_short(c, 10) for c in categories])
            ax.set_ylabel("rows")
            ax.grid(axis="x", visible=False)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    _class_legend(figure, labels, colors, note)
    return figure


def _class_legend(figure: Figure, labels: list[Any], colors: list[str], note: str) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=color, edgecolor=color, alpha=0.75, label=_short(label, 24))
        for label, color in zip(labels, colors, strict=True)
    ]
    figure.legend(
        handles=handles,
        loc="outside upper center",
        ncols=min(len(handles), 5),
        title=note or None,
    )


def pair_plot(evaluation: EvaluationData, classes: list[Any], numeric: list[str]) -> Figure:
    frame = evaluation.X
    labels, masks, note = _class_groups(evaluation, classes)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
    keep = np.zeros(len(frame), dtype=bool)
    keep[_sample(len(frame))] = True
    n = len(numeric)
    figure = new_figure(2.1 * n + 0.4, 2.1 * n + 0.4)
    grid = figure.subplots(n, n, squeeze=False, sharex="col", sharey="row")
    data = {name: frame[name].to_numpy(dtype="float64") for name in numeric}
    for i, row_name in enumerate(numeric):
        for j, col_name in enumerate(numeric):
            ax: Axes = grid[i, j]
            x, y = data[col_name], data[row_name]
            ax.tick_params(labelsize=7.5)
            if i == j:
                # The diagonal keeps the row's shared y scale (its tick labels serve the
                # row), so the density goes on a twin axis of its own.
                density_ax = ax.twinx()
                _draw_densities(density_ax, x, masks, colors)
                density_ax.set_yticks([])
                density_ax.grid(False)
                for spine in density_ax.spines.values():
                    spine.set_visible(False)
            else:
                for mask, color in zip(masks, colors, strict=True):
                    chosen = mask & keep
                    ax.scatter(x[chosen], y[chosen], s=9, color=color, alpha=0.7, linewidths=0)
            if i == n - 1:
                ax.set_xlabel(_short(col_name, 20))
            if j == 0:
                ax.set_ylabel(_short(row_name, 20))
    _class_legend(figure, labels, colors, note)
    return figure


def _bins(values: np.ndarray, count: int) -> int:
    """``count`` bins, or one when the values are all equal up to float noise (numpy
    refuses to split a range that narrow)."""
    if len(values) == 0:
        return 1
    scale = max(1.0, float(np.max(np.abs(values))))
    return count if float(np.ptp(values)) > scale * 1e-9 else 1


def _regression_values(evaluation: EvaluationData) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.asarray(evaluation.y_true, dtype="float64"),
        np.asarray(evaluation.y_pred, dtype="float64"),
    )


def predicted_vs_actual(evaluation: EvaluationData) -> Figure:
    actual, predicted = _regression_values(evaluation)
    chosen = _sample(len(actual))
    figure = new_figure(5.6, 5.2)
    ax = figure.add_subplot()
    ax.scatter(actual[chosen], predicted[chosen], s=14, color=_ACCENT, alpha=0.6, linewidths=0)
    both = np.concatenate([actual, predicted])
    both = both[np.isfinite(both)]
    low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    pad = (high - low) * 0.04 or 1.0
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "--", color="#64748b", linewidth=1)
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("Actual")
    ax.set_ylabel("Predicted")
    return figure


def residuals(evaluation: EvaluationData) -> Figure:
    actual, predicted = _regression_values(evaluation)
    residual = actual - predicted
    chosen = _sample(len(actual))
    figure = new_figure(8.8, 3.8)
    left, right = figure.subplots(1, 2, width_ratios=[1.6, 1])
    left.scatter(predicted[chosen], residual[chosen], s=14, color=_ACCENT, alpha=0.6, linewidths=0)
    left.axhline(0, linestyle="--", color="#64748b", linewidth=1)
    left.set_xlabel("Predicted")
    left.set_ylabel(_RESIDUAL)
    finite = residual[np.isfinite(residual)]
    right.hist(finite, bins=_bins(finite, 25), color=_ACCENT, alpha=0.75)
    right.axvline(0, linestyle="--", color="#64748b", linewidth=1)
    right.set_xlabel(_RESIDUAL)
    right.set_ylabel("rows")
    return figure


def target_relationships(evaluation: EvaluationData) -> Figure:
    frame = evaluation.X
    names = plotted_names(frame)
    actual, _ = _regression_values(evaluation)
    chosen = _sample(len(actual))
    rows, cols = _grid(len(names))
    figure = new_figure(3.4 * cols, 2.7 * rows)
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    numeric = set(numeric_columns(frame))
    for ax, name in zip(axes, names, strict=False):
        column = frame[name]
        ax.set_title(_short(name, 28))
        if name in numeric:
            values = column.to_numpy(dtype="float64")
            ax.scatter(values[chosen], actual[chosen], s=9, color=_ACCENT, alpha=0.55, linewidths=0)
        else:
            text = column.astype(str).to_numpy()
            categories = _categories(column)
            groups = [actual[(text == c) & column.notna().to_numpy()] for c in categories]
            ax.boxplot(groups, tick_labels=[_short(c, 10) for c in categories])
            ax.tick_params(axis="x", rotation=30)
        ax.set_ylabel("target")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return figure

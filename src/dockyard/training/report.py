"""The training report written into a bundle at save time, under ``report/``.

What it holds: held-out metrics, per-class scores (classification) and figures drawn by
:mod:`dockyard.training.charts`; clustering and outlier bundles get theirs from
:mod:`dockyard.training.unsupervised_report`. Files (named in
:mod:`dockyard.bundle.report_manifest`, which the web pages read them with):

- ``index.html``: the report for people, from ``templates/report.html``; opens from disk
  alone (images referenced relatively).
- ``report.json``: the same content for programs; the web pages render figures from it.
- one PNG per figure.

Every file is checksummed into ``bundle.json``, so the output is deterministic: no dates,
no software tag in the PNGs, fixed subsampling seeds. matplotlib is imported only inside
these functions (and through its object API, never pyplot): serving never needs it, and
saving from a notebook must not switch the notebook's plotting backend.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.bundle.report_manifest import (
    INDEX_FILE,
    MANIFEST_FILE,
    REPORT_DIR,
    ClassScores,
    Figure,
    Manifest,
    format_metric,
    format_score,
    method_words,
    metric_label,
)
from dockyard.training import charts

if TYPE_CHECKING:
    from matplotlib.figure import Figure as PlotFigure

    from dockyard.bundle.metadata import Task
    from dockyard.training.evaluation import EvaluationData

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_DPI = 110


def write_report(
    directory: Path,
    model: Any,
    evaluation: EvaluationData,
    task: Task,
    classes: Sequence[Any] | None,
) -> Path:
    """Write the report into ``directory/report/``; returns the path of ``index.html``."""
    import matplotlib
    from cycler import cycler

    out = directory / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    style: Any = {**charts.STYLE, "axes.prop_cycle": cycler(color=list(charts.PALETTE))}
    with matplotlib.rc_context(style), warnings.catch_warnings():
        # A feature name in a script DejaVu Sans lacks draws boxes; that is no reason to
        # fail saving a model.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        figures = tuple(_figures(out, evaluation, task, list(classes or [])))
    metrics, per_class = _metrics(evaluation, task, list(classes or []))
    manifest = Manifest(
        task=task,
        estimator=describe_estimator(model),
        method=evaluation.method,
        rows=len(evaluation.X),
        metrics=metrics,
        per_class=per_class,
        figures=figures,
    )
    (out / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    index = out / INDEX_FILE
    index.write_text(render_html(manifest), encoding="utf-8")
    return index


def describe_estimator(model: Any) -> str:
    """``LogisticRegression``, or ``Pipeline: StandardScaler → LogisticRegression``."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        names = " → ".join(type(step).__name__ for _, step in steps)
        return f"{type(model).__name__}: {names}"
    return type(model).__name__


def _metrics(
    evaluation: EvaluationData, task: Task, classes: list[Any]
) -> tuple[dict[str, float], tuple[ClassScores, ...] | None]:
    from dockyard.training.metrics import classification_metrics, regression_metrics

    if evaluation.metrics is not None:  # clustering, outliers: computed when evaluated
        return dict(evaluation.metrics), None
    if evaluation.method == "not_evaluated":  # saved without data: unknown, not zero
        return {}, None
    if task == "regression":
        return regression_metrics(evaluation.y_true, evaluation.y_pred), None
    from sklearn.metrics import precision_recall_fscore_support

    metrics = classification_metrics(evaluation.y_true, evaluation.y_pred)
    labels = classes or sorted(set(evaluation.y_true.tolist()))
    precision, recall, f1, support = precision_recall_fscore_support(
        evaluation.y_true, evaluation.y_pred, labels=labels, zero_division=0
    )
    per_class = tuple(
        ClassScores(str(label), round(float(p), 6), round(float(r), 6), round(float(f), 6), int(s))
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    )
    return metrics, per_class


def _figures(
    out: Path, evaluation: EvaluationData, task: Task, classes: list[Any]
) -> Iterator[Figure]:
    shown = method_words(evaluation.method)
    if evaluation.method == "not_evaluated":  # nothing true to draw predictions against
        return
    if evaluation.metrics is not None:
        from dockyard.training.unsupervised_report import figures

        for name, figure, title, caption, alt in figures(evaluation, task, classes):
            yield _save(out, name, figure, title=title, caption=caption, alt=alt)
        return
    if task == "classification":
        yield _save(
            out,
            "confusion_matrix.png",
            charts.confusion_matrix_figure(evaluation, classes),
            title="Confusion matrix",
            caption=f"Rows are the true class, columns the predicted one, on {shown} rows. "
            "The diagonal counts correct predictions; colour shows the share of each true class.",
            alt=charts.confusion_alt(evaluation, classes),
        )
        yield _save(
            out,
            "feature_distributions.png",
            charts.class_distributions(evaluation, classes),
            title="Feature distributions by class",
            caption="How each feature is spread within each true class. Features whose classes "
            "barely overlap are the ones the model can separate classes by.",
            alt="Histograms (or bar charts for categorical features) of "
            + ", ".join(charts.plotted_names(evaluation.X))
            + ", one colour per class.",
        )
        numeric = charts.numeric_columns(evaluation.X)[: charts.MAX_PAIR_FEATURES]
        if len(numeric) >= 2:
            yield _save(
                out,
                "pair_plot.png",
                charts.pair_plot(evaluation, classes, numeric),
                title="Pair plot",
                caption="Every pair of the first numeric features against each other, one colour "
                "per class; the diagonal shows each feature alone.",
                alt="Grid of scatter plots of " + ", ".join(numeric) + " coloured by class.",
            )
        return
    yield _save(
        out,
        "predicted_vs_actual.png",
        charts.predicted_vs_actual(evaluation),
        title="Predicted vs actual",
        caption=f"Each point is one {shown} row. Points on the dashed line are predicted "
        "exactly; the further from it, the larger the error.",
        alt="Scatter plot of predicted against actual target values with the identity line.",
    )
    yield _save(
        out,
        "residuals.png",
        charts.residuals(evaluation),
        title="Residuals",
        caption="Actual minus predicted. A shapeless band around zero is good; a curve or a "
        "funnel means the error depends on the prediction.",
        alt="Scatter plot of residuals against predicted values, and a histogram of residuals.",
    )
    yield _save(
        out,
        "feature_relationships.png",
        charts.target_relationships(evaluation),
        title="Features against the target",
        caption="The actual target against each of the first features.",
        alt="Scatter plots (box plots for categorical features) of the target against "
        + ", ".join(charts.plotted_names(evaluation.X))
        + ".",
    )


def _save(
    out: Path, name: str, figure: PlotFigure, *, title: str, caption: str, alt: str
) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    # No "Software" tag: the bytes must not change with the matplotlib patch version alone.
    figure.savefig(out / name, dpi=_DPI, format="png", metadata={"Software": None})
    width, height = (round(v * _DPI) for v in figure.get_size_inches())
    return Figure(name, title, caption, alt, int(width), int(height))


def render_html(manifest: Manifest) -> str:
    """The report's ``index.html``: what ``manifest`` holds, for people."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template("report.html").render(
        estimator=manifest.estimator,
        task=manifest.task,
        rows=manifest.rows,
        method=method_words(manifest.method),
        metrics=[
            {"label": metric_label(k), "value": format_metric(k, v)}
            for k, v in manifest.metrics.items()
        ],
        per_class=[
            {
                "name": c.name,
                "precision": format_score(c.precision),
                "recall": format_score(c.recall),
                "f1": format_score(c.f1),
                "support": c.support,
            }
            for c in manifest.per_class or ()
        ],
        figures=manifest.figures,
    )


__all__ = ["describe_estimator", "render_html", "write_report"]

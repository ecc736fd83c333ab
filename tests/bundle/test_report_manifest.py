from __future__ import annotations

import json

from dockyard.bundle.report_manifest import (
    ClassScores,
    Figure,
    Manifest,
    format_metric,
    format_number,
    format_score,
    method_words,
    metric_label,
)
from dockyard.training.report import render_html

MANIFEST = Manifest(
    task="classification",
    estimator="Pipeline: StandardScaler → LogisticRegression",
    method="holdout",
    rows=38,
    metrics={"accuracy": 0.92105, "f1_macro": 0.9, "outliers": 20000.0, "custom_score": 1e-4},
    per_class=(ClassScores("setosa", 1.0, 0.9, 0.947368, 12),),
    figures=(Figure("confusion_matrix.png", "Confusion matrix", "Rows…", "A matrix", 660, 550),),
)


def test_metrics_are_written_as_people_read_them() -> None:
    assert format_metric("accuracy", 0.92105) == "92.1%"
    assert format_metric("largest_cluster_share", 0.5) == "50.0%"
    assert format_metric("r2", 0.21912) == "0.219"
    assert format_metric("mae", 48.8512) == "48.85"
    assert format_metric("outliers", 20000.0) == "20000"
    assert format_number(-0.0446416) == "-0.04464"
    assert format_number(1515.0) == "1515"
    assert format_number(1.5e-7) == "1.5e-07"
    assert format_score(0.947368) == "0.947"


def test_metric_labels() -> None:
    assert metric_label("rmse") == "Root mean squared error"
    assert metric_label("outlier_share") == "Flagged as outliers"
    assert metric_label("custom_score") == "Custom score"
    assert [method_words(m) for m in ("holdout", "training_data", "cross_validation")] == [
        "held-out",
        "training",
        "cross-validated",
    ]


def test_the_report_page_uses_the_manifest_names_and_formats() -> None:
    html = render_html(MANIFEST)
    for key, value in MANIFEST.metrics.items():
        tile = f'<div class="v">{format_metric(key, value)}</div><div class="k">{metric_label(key)}</div>'
        assert tile in html
    assert '<div class="v">20000</div><div class="k">Outliers</div>' in html
    assert '<div class="k">Custom score</div>' in html
    assert '<td class="n">0.947</td>' in html
    assert "evaluated on 38 held-out rows" in html


def test_the_manifest_reads_back_what_it_wrote() -> None:
    text = MANIFEST.to_json()
    assert Manifest.from_json(text) == MANIFEST
    assert json.loads(text)["schema"] == 1
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


def test_a_newer_or_broken_manifest_is_not_read() -> None:
    doc = json.loads(MANIFEST.to_json())
    assert Manifest.from_json(json.dumps({**doc, "schema": 2})) is None
    assert Manifest.from_json("not json") is None
    assert Manifest.from_json("[1, 2]") is None


def test_odd_entries_are_left_out() -> None:
    doc = json.loads(MANIFEST.to_json())
    doc["figures"] += [{"file": "x.png", "width": "wide"}, {"title": "no file"}, "not a figure"]
    doc["per_class"] += [{"class": "incomplete"}, "not a row"]
    doc["metrics"]["flag"] = True
    manifest = Manifest.from_json(json.dumps(doc))
    assert manifest == MANIFEST

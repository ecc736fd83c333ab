"""The monitoring page and the feedback upload in a real browser: the app under a real
uvicorn in this process, its prediction log a SQLite file with the MONITORING.md schema
filled with iris rows, one feature drifted. Every test ends with an error-free console."""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dockyard.monitoring.store import Feedback
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from dockyard.web import monitor
from tests.monitoring.logstore import LoggedRow, SQLiteLog
from tests.server.test_errors import serving
from tests.web.browsing import By, ec, open_page, shoot, wait

pytestmark = pytest.mark.browser

DRIFTED = "petal_length"
WRONG = 10
"""Of the 40 rows given feedback, this many get another species: accuracy 75.0%."""


@dataclass(frozen=True)
class Site:
    url: str


def iris_data(iris: Predictor) -> tuple[np.ndarray, list[str]]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data, [str(data.target_names[t]) for t in data.target]


def reference_of(iris: Predictor) -> dict[str, Any]:
    """The training reference as bundle.json (schema 4) writes it: quartile bins."""
    X, species = iris_data(iris)
    features = {}
    for i, name in enumerate(iris.feature_names):
        edges = np.quantile(X[:, i], [0, 0.25, 0.5, 0.75, 1])
        counts, _ = np.histogram(X[:, i], edges)
        features[name] = {"kind": "number", "edges": edges.tolist(), "counts": counts.tolist()}
    mix = {s: species.count(s) for s in iris.class_keys}
    return {
        "rows": len(species),
        "features": features,
        "prediction": {"kind": "category", "counts": mix},
    }


@pytest.fixture(scope="module")
def logged(iris: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteLog]:
    """Every iris row, once, over the last 20 hours; petal length 4 cm longer than in
    training; feedback for 40 rows, 10 of it naming another species."""
    log = SQLiteLog(tmp_path_factory.mktemp("log") / "predictions.db")
    X, species = iris_data(iris)
    now = time.time()
    rows = []
    for i, (values, label) in enumerate(zip(X, species, strict=True)):
        inputs = dict(zip(iris.feature_names, values.tolist(), strict=True))
        inputs[DRIFTED] += 4.0
        when = now - 20 * 3600 + i * 400
        rows.append(
            LoggedRow(f"req-{i}", 0, when, "iris", iris.version, iris.digest, "sklearn", "json",
                      200, 2.0 + i % 7, inputs, label, {"label": label})
        )  # fmt: skip
    log.insert_predictions(rows)
    other = {
        s: t
        for s, t in zip(iris.class_keys, iris.class_keys[1:] + iris.class_keys[:1], strict=True)
    }
    feedback = [
        Feedback(f"req-{i}", 0, "iris", other[species[i]] if n < WRONG else species[i], now)
        for n, i in enumerate(range(0, 120, 3))
    ]
    log.insert_feedback(feedback)
    yield log
    log.close()


@pytest.fixture(scope="module")
def site(iris: Predictor, logged: SQLiteLog) -> Iterator[Site]:
    with serving(create_app(Settings(), predictors=[iris], store=logged)) as url:
        yield Site(url)


@pytest.fixture
def with_reference(iris: Predictor, monkeypatch: pytest.MonkeyPatch) -> None:
    # The reference bundles record from schema 4 on (bundle/reference.py): these tests
    # give iris one, so they draw the same bins whichever bundle the session trained.
    reference = reference_of(iris)
    monkeypatch.setattr(monitor, "bundle_reference", lambda predictor: reference)


def features(browser: Any) -> dict[str, Any]:
    return {
        f.get_attribute("data-feature"): f
        for f in browser.find_elements(By.CSS_SELECTOR, "#drift figure.feature")
    }


@pytest.mark.usefixtures("with_reference")
def test_the_monitor_shows_drift_where_the_inputs_moved(
    browser: Any, site: Site, iris: Predictor, screenshots: Path
) -> None:
    open_page(browser, site, "/models/iris/monitor")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Monitoring iris")
    assert browser.find_element(By.ID, "rows-count").text == "150"
    shown = features(browser)
    assert list(shown) == list(iris.feature_names)
    for name, figure in shown.items():
        # Four quartile bins, each a training bar and a live bar.
        assert len(figure.find_elements(By.CSS_SELECTOR, "svg rect.bar-ref")) == 4
        assert len(figure.find_elements(By.CSS_SELECTOR, "svg rect.bar-live")) == 4
        badge = figure.find_element(By.CSS_SELECTOR, ".pill").text
        assert badge == ("drift" if name == DRIFTED else "no drift"), name
    assert shown["sepal_width"].find_element(By.CLASS_NAME, "psi").text == "PSI 0.000"
    drifted = float(shown[DRIFTED].find_element(By.CLASS_NAME, "psi").text.split()[1])
    assert drifted > 0.2
    # The live bars of the drifted feature: none in the lower half, most in the top bin.
    heights = [
        float(r.get_attribute("height"))
        for r in shown[DRIFTED].find_elements(By.CSS_SELECTOR, "rect.bar-live")
    ]
    assert heights[:2] == [0.0, 0.0]
    assert heights[3] > 10 * heights[2]
    # Predictions: the same mix as in training, and a mix over time with a legend.
    prediction = browser.find_element(By.ID, "prediction-drift")
    assert prediction.find_element(By.CSS_SELECTOR, ".pill").text == "no drift"
    legend = browser.find_elements(By.CSS_SELECTOR, "#mix .legend li")
    assert [li.text for li in legend] == iris.class_keys
    assert browser.find_elements(By.CSS_SELECTOR, "#mix-chart rect")
    # Live accuracy from feedback, over the window and per hour.
    scores = browser.find_element(By.ID, "live-scores").text
    assert "75.0%" in scores
    assert "Accuracy" in scores
    assert "40" in scores
    table = browser.find_elements(By.CSS_SELECTOR, "#score-table tbody tr")
    assert sum(int(r.find_elements(By.TAG_NAME, "td")[0].text) for r in table) == 40
    assert browser.find_elements(By.CSS_SELECTOR, "#score-chart rect.bar-live")
    # Latency percentiles, from 2 to 8 ms.
    assert browser.find_element(By.CLASS_NAME, "latency-p50").text.endswith(" ms")
    shoot(browser, screenshots, "monitor-iris")


def test_the_axis_labels_of_the_bundles_own_bins_do_not_overlap(
    browser: Any, site: Site, iris: Predictor, screenshots: Path
) -> None:
    # The bundle's own reference: about ten bins a feature, each named by its range.
    assert iris.metadata.reference is not None
    open_page(browser, site, "/models/iris/monitor")
    shown = features(browser)
    assert set(shown) == set(iris.feature_names)
    bins: dict[str, int] = {}
    for name, figure in shown.items():
        boxes = browser.execute_script(
            "return [...arguments[0].querySelectorAll('text.tick')].map(t => {"
            " const r = t.getBoundingClientRect(); return [r.left, r.right]; });",
            figure,
        )
        assert len(boxes) >= 2, name
        bins[name] = len(figure.find_elements(By.CSS_SELECTOR, "svg rect.bar-ref"))
        for (_, right), (left, _) in itertools.pairwise(sorted(boxes)):
            assert right <= left, f"{name}: axis labels overlap"
    assert max(bins.values()) >= 8, bins  # enough bins for labels that would overlap
    shoot(browser, screenshots, "monitor-own-bins")


@pytest.mark.usefixtures("with_reference")
def test_a_short_window_with_nothing_logged_says_so(browser: Any, site: Site) -> None:
    open_page(browser, site, "/models/iris/monitor")
    browser.find_element(By.LINK_TEXT, "Last 1h").click()
    empty = wait(browser, ec.visibility_of_element_located((By.ID, "no-rows")))
    assert "No predictions were logged in the last 1h" in empty.text
    assert browser.find_element(By.ID, "rows-count").text == "0"
    assert not features(browser)


def test_an_old_bundle_says_drift_needs_a_retrain(
    browser: Any, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "bundle_reference", lambda predictor: None)
    open_page(browser, site, "/models/iris/monitor")
    notice = browser.find_element(By.ID, "no-reference").text
    assert "drift cannot be measured" in notice
    assert "Retrain" in notice
    # What needs no reference is still there.
    assert "75.0%" in browser.find_element(By.ID, "live-scores").text


def test_without_a_log_the_page_names_the_setting(browser: Any, iris: Predictor) -> None:
    with serving(create_app(Settings(), predictors=[iris])) as url:
        open_page(browser, Site(url), "/models/iris/monitor")
        text = browser.find_element(By.ID, "no-log").text
    assert "DOCKYARD_PREDICTION_LOG" in text


def test_feedback_uploaded_on_the_model_page(browser: Any, iris: Predictor, tmp_path: Path) -> None:
    log = SQLiteLog(tmp_path / "predictions.db")
    log.insert_predictions(
        [LoggedRow("req-1", 0, time.time(), "iris", iris.version, iris.digest, "sklearn",
                   "form", 200, 3.0, None, "virginica", None)]
    )  # fmt: skip
    with serving(create_app(Settings(), predictors=[iris], store=log)) as url:
        open_page(browser, Site(url), "/models/iris")
        link = browser.find_element(By.ID, "monitor-link")
        assert link.get_attribute("href") == f"{url}/models/iris/monitor"
        source = tmp_path / "truth.csv"
        source.write_text("request_id,label\nreq-1,virginica\nnot-logged,setosa\n")
        browser.find_element(By.ID, "feedback-file").send_keys(str(source))
        browser.find_element(By.ID, "feedback-button").click()
        done = wait(
            browser,
            ec.visibility_of_element_located((By.CSS_SELECTOR, "#feedback-status .notice-ok")),
        )
        assert (
            done.text == "Received 2 feedback rows from truth.csv; 1 matched a logged prediction."
        )
        # The monitor counts it.
        link.click()
        scores = wait(browser, ec.visibility_of_element_located((By.ID, "live-scores")))
        assert "100.0%" in scores.text
    with sqlite3.connect(tmp_path / "predictions.db") as db:
        stored = db.execute("SELECT request_id, truth FROM feedback ORDER BY id").fetchall()
    assert stored == [("req-1", '"virginica"'), ("not-logged", '"setosa"')]
    log.close()

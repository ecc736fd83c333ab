"""The form and model card of clustering and outlier bundles in headless Chromium, against
a real `dockyard serve`: the rendered answer, the card's sizes, no console errors (every
test here ends with an error-free browser console: see conftest.clean_console)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server
from tests.unsupervised import INLIER, OUTLIER
from tests.web.browsing import By, ec, fill, not_reloaded, open_page, shoot, wait
from tests.web.conftest import serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def unsupervised_server(unsupervised_bundles: dict[str, Path]) -> Iterator[Server]:
    with serving(*unsupervised_bundles.values()) as server:
        yield server


def text_of(driver: Any, identifier: str) -> str | None:
    text: str | None = driver.execute_script(
        "const e = document.getElementById(arguments[0]); return e && e.textContent", identifier
    )
    return text


def predict(driver: Any, record: dict[str, float], shown: str) -> Any:
    for name, value in record.items():
        fill(driver, name, value)
    driver.find_element(By.ID, "predict-button").click()
    return wait(driver, ec.visibility_of_element_located((By.ID, shown)))


def test_clusterer_form_shows_cluster_and_distances(
    browser: Any, unsupervised_server: Server, screenshots: Path
) -> None:
    open_page(browser, unsupervised_server, "/models/segments")
    result = browser.find_element(By.ID, "result")
    assert "distance to each cluster centre will appear here" in result.text
    cluster = predict(browser, INLIER, "prediction-cluster")
    assert not_reloaded(browser)
    bars = browser.find_elements(By.CSS_SELECTOR, "#result .bars .bar")
    assert len(bars) == 3
    # Nearest first, and the nearest is the assigned cluster.
    assert bars[0].find_element(By.CLASS_NAME, "bar-name").text == f"Cluster {cluster.text}"
    assert "bar-top" in bars[0].get_attribute("class")
    assert "Distance to each cluster centre" in result.text
    table = browser.find_element(By.ID, "groups")
    assert "Cluster sizes" in table.text
    assert len(table.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
    shoot(browser, screenshots, "model-segments")


def test_mixture_form_shows_membership_probabilities(
    browser: Any, unsupervised_server: Server
) -> None:
    open_page(browser, unsupervised_server, "/models/mixture")
    cluster = predict(browser, INLIER, "prediction-cluster")
    result = browser.find_element(By.ID, "result")
    assert "Probability of each cluster" in result.text
    top = browser.find_element(By.CSS_SELECTOR, "#result .bars .bar-top .bar-name")
    assert top.text == cluster.text


@pytest.mark.parametrize("model", ["anomalies", "novelty"])
def test_outlier_form_shows_the_verdict_and_score(
    browser: Any, unsupervised_server: Server, screenshots: Path, model: str
) -> None:
    open_page(browser, unsupervised_server, f"/models/{model}")
    assert predict(browser, INLIER, "prediction-label").text == "Inlier"
    assert browser.find_element(By.ID, "prediction-score").text.startswith("Score ")
    for name, value in OUTLIER.items():
        fill(browser, name, value)
    browser.find_element(By.ID, "predict-button").click()
    # Read by script: the answer is re-rendered, so an element found a moment ago can go stale.
    wait(browser, lambda d: text_of(d, "prediction-label") == "Outlier")
    score = text_of(browser, "prediction-score")
    assert score.startswith("Score -") or score.startswith("Score \u2212")
    card = browser.find_element(By.ID, "card").text
    assert "Flagged as outliers" in card
    assert "Inliers and outliers" in card
    shoot(browser, screenshots, f"model-{model}")

"""The model page shows what training wrote: every metric with the report's label and
number, every per-class row, every figure. Both pages are read as Chromium renders them:
the report written at save time (``report/index.html``) and the model page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.processes import Server
from tests.web.browsing import By, open_page
from tests.web.conftest import serving

pytestmark = pytest.mark.browser

MODELS = ("iris", "churn", "diabetes", "segments", "mixture", "anomalies", "novelty")


@pytest.fixture(scope="module")
def report_server(bundles: Path, unsupervised_bundles: dict[str, Path]) -> Iterator[Server]:
    supervised = [bundles / n for n in ("iris", "churn", "diabetes")]
    with serving(*supervised, *unsupervised_bundles.values()) as server:
        yield server


def _rows(browser: Any, table_css: str) -> list[list[str]]:
    return [
        [cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")]
        for row in browser.find_elements(By.CSS_SELECTOR, f"{table_css} tbody tr")
    ]


def _figures(browser: Any, css: str) -> list[tuple[str, str, str, bool]]:
    """Each figure's file, title and alt text, and whether its image loaded."""
    found = []
    for figure in browser.find_elements(By.CSS_SELECTOR, css):
        image = figure.find_element(By.TAG_NAME, "img")
        loaded = browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", image
        )
        found.append(
            (
                Path(urlparse(image.get_attribute("src")).path).name,
                figure.find_element(By.TAG_NAME, "strong").text,
                image.get_attribute("alt"),
                bool(loaded),
            )
        )
    return found


def _wait_for_images(browser: Any) -> None:
    # The model page loads its figures lazily: scrolled into view, they load.
    for image in browser.find_elements(By.CSS_SELECTOR, "#report img"):
        browser.execute_script("arguments[0].scrollIntoView()", image)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
        ".then(() => done(null));"
    )


@pytest.mark.parametrize("name", MODELS)
def test_the_model_page_shows_what_the_training_report_wrote(
    browser: Any, report_server: Server, name: str
) -> None:
    open_page(browser, report_server, f"/models/{name}/report/index.html")
    _wait_for_images(browser)
    written_metrics = [
        (tile.find_element(By.CLASS_NAME, "k").text, tile.find_element(By.CLASS_NAME, "v").text)
        for tile in browser.find_elements(By.CSS_SELECTOR, ".tiles .tile")
    ]
    written_classes = _rows(browser, "table")
    written_figures = _figures(browser, "figure")

    open_page(browser, report_server, f"/models/{name}")
    _wait_for_images(browser)
    shown_metrics = [
        (
            tile.find_element(By.CLASS_NAME, "tile-label").text,
            tile.find_element(By.CLASS_NAME, "tile-value").text,
        )
        for tile in browser.find_elements(By.CSS_SELECTOR, "#card .tiles .tile")
    ]
    per_class = browser.find_elements(By.XPATH, "//section[@id='card']//table[caption='Per class']")
    shown_classes = _rows(per_class[0], "") if per_class else []
    shown_figures = _figures(browser, "#report figure")

    assert written_metrics, "the training report shows no metric"
    assert shown_metrics == written_metrics
    assert shown_classes == written_classes
    assert written_figures
    assert shown_figures == written_figures
    assert all(loaded for *_, loaded in shown_figures)

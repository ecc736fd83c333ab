"""The form for a model whose labels are booleans, in a real browser: the label reads as
JSON writes it, with its probability line and its bar highlighted. Every test here also
ends with an error-free browser console (see conftest.clean_console)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server
from tests.web.browsing import By, ec, fill, not_reloaded, open_page, shoot, wait
from tests.web.conftest import serving

pytestmark = pytest.mark.browser

VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.2}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def boolean_server(boolean_bundle: Path) -> Iterator[Server]:
    with serving(boolean_bundle) as server:
        yield server


@pytest.mark.parametrize(("row", "label"), [(VIRGINICA, "true"), (SETOSA, "false")])
def test_boolean_label_reads_as_json_with_its_probability_and_bar(
    browser: Any, boolean_server: Server, screenshots: Path, row: dict[str, float], label: str
) -> None:
    open_page(browser, boolean_server, "/models/virginica")
    for name, value in row.items():
        fill(browser, name, value)
    browser.find_element(By.ID, "predict-button").click()
    shown = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert shown.text == label
    assert not_reloaded(browser)
    line = browser.find_element(By.ID, "prediction-probability")
    assert line.is_displayed()
    assert line.text.endswith("probability")
    bars = browser.find_elements(By.CSS_SELECTOR, "#result .bars .bar")
    assert sorted(b.find_element(By.CLASS_NAME, "bar-name").text for b in bars) == ["false", "true"]
    top = [b for b in bars if "bar-top" in b.get_attribute("class")]
    assert [b.find_element(By.CLASS_NAME, "bar-name").text for b in top] == [label]
    # The highlighted bar carries the percentage the probability line states.
    percent = top[0].find_element(By.CLASS_NAME, "bar-value").text
    assert line.text == f"{percent} probability"
    shoot(browser, screenshots, f"model-virginica-{label}")

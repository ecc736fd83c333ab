"""The form for a model whose labels are booleans, in a real browser: the label reads as
JSON writes it, with its probability line and its bar highlighted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed (pip install -e '.[dev]')", allow_module_level=True)

from tests.processes import Server
from tests.web.test_browser import fill, not_reloaded, open_page, shoot, wait

pytestmark = pytest.mark.browser

# Installed before any page script runs: what the console would show as an error.
WATCH_ERRORS = """
window.__errors = [];
const note = (text) => window.__errors.push(String(text));
window.addEventListener("error", (e) => note(e.message || (e.target && (e.target.src || e.target.href)) || e.type), true);
window.addEventListener("unhandledrejection", (e) => note(e.reason));
document.addEventListener("securitypolicyviolation", (e) => note("CSP: " + e.violatedDirective));
const consoleError = console.error;
console.error = (...args) => { note(args.join(" ")); consoleError.apply(console, args); };
"""

VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.2}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def boolean_server(boolean_bundle: Path) -> Iterator[Server]:
    server = Server(boolean_bundle)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def watched(browser: Any) -> Iterator[Any]:
    script = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_ERRORS}
    )
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", script)


@pytest.mark.parametrize(("row", "label"), [(VIRGINICA, "true"), (SETOSA, "false")])
def test_boolean_label_reads_as_json_with_its_probability_and_bar(
    watched: Any, boolean_server: Server, screenshots: Path, row: dict[str, float], label: str
) -> None:
    browser = watched
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
    assert browser.execute_script("return window.__errors") == []
    shoot(browser, screenshots, f"model-virginica-{label}")

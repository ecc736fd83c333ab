"""A text model's form in a real browser: a text box, a new sentence, a label."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed (pip install -e '.[dev]')", allow_module_level=True)

from tests.processes import Server
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

# Records what the console would show as errors, from before the page's own scripts run.
_CONSOLE_HOOK = """
window.__errors = [];
const original = console.error.bind(console);
console.error = (...args) => { window.__errors.push(args.map(String).join(" ")); original(...args); };
window.addEventListener("error", (e) => window.__errors.push(String(e.message || e.target?.src || e.target?.href)), true);
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
"""


@pytest.fixture(scope="module")
def text_server(reviews_bundle: Path, sentiment_bundle: Path) -> Iterator[Server]:
    server = Server(reviews_bundle, sentiment_bundle)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    hook = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": _CONSOLE_HOOK}
    )
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", hook)


def _open(driver: Any, server: Server, path: str) -> None:
    driver.get(server.url + path)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def _predict(driver: Any) -> str:
    driver.execute_script("document.getElementById('prediction-label')?.remove()")
    driver.find_element(By.ID, "predict-button").click()
    label = WebDriverWait(driver, 20).until(
        ec.visibility_of_element_located((By.ID, "prediction-label"))
    )
    return str(label.text)


def test_a_text_model_takes_a_new_sentence(
    page: Any, text_server: Server, screenshots: Path
) -> None:
    _open(page, text_server, "/models/sentiment")
    box = page.find_element(By.CSS_SELECTOR, "textarea[name='text']")
    label = page.find_element(By.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']")
    assert label.text == "Text"
    assert box.is_displayed()
    box.clear()
    box.send_keys("wonderful friendly staff, would come back")
    assert _predict(page) == "good"
    box.clear()
    box.send_keys("rude and slow, never again")
    assert _predict(page) == "bad"
    screenshot(page, screenshots / "text-form-desktop.png")
    assert page.execute_script("return window.__errors") == []


def test_an_open_category_takes_a_new_value_and_age_may_be_empty(
    page: Any, text_server: Server
) -> None:
    _open(page, text_server, "/models/reviews")
    review = page.find_element(By.CSS_SELECTOR, "textarea[name='review']")
    review.clear()
    review.send_keys("rude and slow, never again")
    channel = page.find_element(By.CSS_SELECTOR, "input[name='channel'][type='text']")
    assert channel.get_attribute("list")
    channel.clear()
    channel.send_keys("carrier pigeon")
    page.find_element(By.NAME, "age").clear()
    assert _predict(page) == "bad"
    assert page.execute_script("return window.__errors") == []

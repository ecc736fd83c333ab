"""Signing in and out in a real browser, against a `dockyard serve` that has a key."""

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

KEY = "k3y-for-tests-0123456789"


@pytest.fixture(scope="module")
def keyed(iris_bundle: Path) -> Iterator[Server]:
    server = Server(iris_bundle, env={"DOCKYARD_API_KEY": KEY})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _submit_key(driver: Any, key: str) -> None:
    field = driver.find_element(By.ID, "key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, ".login-form button[type=submit]").click()


def test_sign_in_and_out(browser: Any, keyed: Server, screenshots: Path) -> None:
    browser.delete_all_cookies()
    browser.get_log("browser")  # the log so far is other tests'
    browser.get(keyed.url + "/models/iris")
    WebDriverWait(browser, 20).until(ec.title_contains("Sign in"))
    assert not browser.find_elements(By.CSS_SELECTOR, ".signout")
    _submit_key(browser, "not-the-key-at-all")
    alert = WebDriverWait(browser, 20).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert alert.text == "That is not the API key."
    _submit_key(browser, KEY)
    WebDriverWait(browser, 20).until(ec.title_contains("iris"))
    assert browser.current_url == keyed.url + "/models/iris"
    # Versions are shown to someone signed in.
    rows = browser.find_elements(By.CSS_SELECTOR, "table.versions tbody th")
    assert "scikit-learn" in [row.text for row in rows]
    sign_out = browser.find_element(By.CSS_SELECTOR, ".signout button")
    assert sign_out.is_displayed()
    screenshot(browser, screenshots / "signed-in-desktop.png")
    sign_out.click()
    WebDriverWait(browser, 20).until(ec.title_contains("Sign in"))
    assert browser.get_cookies() == []
    browser.get(keyed.url + "/")
    WebDriverWait(browser, 20).until(ec.title_contains("Sign in"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    # The one wrong key is the only error: its 401 answer.
    assert all("401" in e["message"] for e in errors), errors

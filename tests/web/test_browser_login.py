"""Signing in with the API key, in a real browser against a server that requires one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed (pip install -e '.[dev]')", allow_module_level=True)

from tests.processes import Server
from tests.web.browsing import (
    documented_operations,
    expect_failed_request,
    open_page,
    swagger_operations,
    wait,
)
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser

KEY = "browser-test-key"


@pytest.fixture(scope="module")
def guarded(iris_bundle: Path) -> Iterator[Server]:
    server = Server(iris_bundle, env={"DOCKYARD_API_KEY": KEY})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def signed_out(browser: Any, guarded: Server) -> Iterator[None]:
    # Cookies belong to a host, not a port: the session must not reach other tests' servers.
    open_page(browser, guarded, "/login")
    browser.delete_all_cookies()
    yield
    browser.delete_all_cookies()


def sign_in(driver: Any, key: str) -> None:
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, ".login-form button[type=submit]").click()


@pytest.mark.usefixtures("signed_out")
def test_sign_in_leads_back_to_the_page(browser: Any, guarded: Server, screenshots: Path) -> None:
    open_page(browser, guarded, "/models/iris")
    assert browser.current_url == f"{guarded.url}/login?next=/models/iris"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
    screenshot(browser, screenshots / "login-desktop.png")

    sign_in(browser, "not-the-key")
    error = wait(browser, ec.visibility_of_element_located((By.ID, "key-error")))
    assert error.text == "That is not the API key."
    assert browser.find_element(By.ID, "key").get_attribute("aria-invalid") == "true"
    expect_failed_request(browser, f"{guarded.url}/login", 401)

    sign_in(browser, KEY)
    wait(browser, ec.url_to_be(f"{guarded.url}/models/iris"))
    # The session cookie authorizes the page's own API calls too.
    browser.find_element(By.ID, "predict-button").click()
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert label.text in {"setosa", "versicolor", "virginica"}


@pytest.mark.usefixtures("signed_out")
def test_docs_work_once_signed_in(browser: Any, guarded: Server) -> None:
    open_page(browser, guarded, "/login")
    sign_in(browser, KEY)
    wait(browser, ec.url_to_be(f"{guarded.url}/"))
    document = httpx.get(f"{guarded.url}/openapi.json", headers={"X-API-Key": KEY}).json()
    open_page(browser, guarded, "/docs")
    assert swagger_operations(browser) == documented_operations(document)

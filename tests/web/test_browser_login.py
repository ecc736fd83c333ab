"""Signing in with the API key and out again, in a real browser against a `dockyard serve`
that requires one. Every test here also ends with an error-free browser console (see
conftest.clean_console): the wrong key's 401 is the one failed request, on purpose."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Server
from tests.web.browsing import (
    By,
    documented_operations,
    ec,
    expect_failed_request,
    open_page,
    swagger_operations,
    wait,
)
from tests.web.conftest import screenshot, serving

pytestmark = pytest.mark.browser

KEY = "k3y-for-tests-0123456789"


@pytest.fixture(scope="module")
def guarded(iris_bundle: Path) -> Iterator[Server]:
    with serving(iris_bundle, env={"DOCKYARD_API_KEY": KEY}) as server:
        yield server


@pytest.fixture
def signed_out(browser: Any, guarded: Server) -> Iterator[None]:
    # Cookies belong to a host, not a port: the session must not reach other tests' servers.
    open_page(browser, guarded, "/login")
    browser.delete_all_cookies()
    yield
    browser.delete_all_cookies()


def sign_in(driver: Any, key: str) -> None:
    field = driver.find_element(By.ID, "key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.CSS_SELECTOR, ".login-form button[type=submit]").click()


@pytest.mark.usefixtures("signed_out")
def test_sign_in_leads_back_to_the_page_and_sign_out_ends_the_session(
    browser: Any, guarded: Server, screenshots: Path
) -> None:
    open_page(browser, guarded, "/models/iris")
    assert browser.current_url == f"{guarded.url}/login?next=/models/iris"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
    assert "Sign in" in browser.title
    assert not browser.find_elements(By.CSS_SELECTOR, ".signout")
    screenshot(browser, screenshots / "login-desktop.png")

    sign_in(browser, "not-the-key")
    # The message is announced: an alert, which the field points to.
    error = wait(browser, ec.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert error.get_attribute("id") == "key-error"
    assert error.text == "That is not the API key."
    assert browser.find_element(By.ID, "key").get_attribute("aria-invalid") == "true"
    expect_failed_request(browser, f"{guarded.url}/login", 401)

    sign_in(browser, KEY)
    wait(browser, ec.url_to_be(f"{guarded.url}/models/iris"))
    wait(browser, ec.title_contains("iris"))
    # Versions are shown to someone signed in (this server is not told to show them to all).
    rows = browser.find_elements(By.CSS_SELECTOR, "table.versions tbody th")
    assert "scikit-learn" in [row.text for row in rows]
    # The session cookie authorizes the page's own API calls too.
    browser.find_element(By.ID, "predict-button").click()
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert label.text in {"setosa", "versicolor", "virginica"}
    sign_out = browser.find_element(By.CSS_SELECTOR, ".signout button")
    assert sign_out.is_displayed()
    screenshot(browser, screenshots / "signed-in-desktop.png")

    sign_out.click()
    wait(browser, ec.title_contains("Sign in"))
    assert browser.get_cookies() == []
    browser.get(guarded.url + "/")
    wait(browser, ec.title_contains("Sign in"))


@pytest.mark.usefixtures("signed_out")
def test_docs_work_once_signed_in(browser: Any, guarded: Server) -> None:
    open_page(browser, guarded, "/login")
    sign_in(browser, KEY)
    wait(browser, ec.url_to_be(f"{guarded.url}/"))
    document = httpx.get(f"{guarded.url}/openapi.json", headers={"X-API-Key": KEY}).json()
    open_page(browser, guarded, "/docs")
    assert swagger_operations(browser) == documented_operations(document)

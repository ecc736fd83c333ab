"""What the browser tests share: selenium's names, waiting, opening a page, filling a form,
screenshots, an expected failed request, reading the Swagger UI page.

A browser test module imports selenium's names from here, first: without selenium the whole
module skips on a laptop, and with CI=true a missing selenium fails it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("selenium is not installed (pip install -e '.[dev]')", allow_module_level=True)

from tests.processes import Server
from tests.web.conftest import console_errors, screenshot

__all__ = [
    "WAIT",
    "By",
    "Keys",
    "documented_operations",
    "ec",
    "expect_failed_request",
    "fill",
    "not_reloaded",
    "open_page",
    "shoot",
    "swagger_operations",
    "wait",
]

WAIT = 20.0


def wait(driver: Any, condition: Any, timeout: float = WAIT) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def open_page(driver: Any, server: Server, path: str) -> None:
    driver.get(server.url + path)
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    # Set on this document only: still there after a submit means no page reload.
    driver.execute_script("window.__dockyardTest = 1")


def not_reloaded(driver: Any) -> bool:
    return bool(driver.execute_script("return window.__dockyardTest === 1"))


def fill(driver: Any, name: str, value: object) -> Any:
    """Type ``value`` into the form field called ``name``, in place of what it held."""
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(str(value))
    return field


def shoot(driver: Any, directory: Path, name: str) -> None:
    """The page as a desktop and as a phone shows it."""
    screenshot(driver, directory / f"{name}-desktop.png")
    screenshot(driver, directory / f"{name}-phone.png", width=390, mobile=True)


def expect_failed_request(driver: Any, url: str, status: int) -> None:
    """Empty the console, which must show one error: ``url`` answered ``status``, as the
    test meant it to (browsers log every failed request as an error)."""
    errors = console_errors(driver)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{url} "), errors
    assert f"status of {status}" in errors[0], errors


def swagger_operations(driver: Any) -> set[tuple[str, str]]:
    """(method, path) of every operation the rendered Swagger UI page lists, once it
    rendered them; a failed render (such as "Unable to render this definition") fails."""
    shown = ".opblock, .errors-wrapper, .version-pragma, .loading-container"
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, shown))
    wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".loading-container"))
    errors = driver.find_elements(By.CSS_SELECTOR, ".errors-wrapper, .version-pragma")
    assert not errors, f"Swagger UI shows errors: {[e.text for e in errors]}"
    return {
        (
            block.find_element(By.CLASS_NAME, "opblock-summary-method").text,
            block.find_element(By.CLASS_NAME, "opblock-summary-path").get_attribute("data-path"),
        )
        for block in driver.find_elements(By.CSS_SELECTOR, ".opblock")
    }


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path) of every operation in an OpenAPI document."""
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in methods
    }

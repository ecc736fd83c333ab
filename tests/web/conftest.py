"""A real `dockyard serve` process and a headless Chromium driven by Selenium.

Without chromium/chromedriver the browser tests skip on a laptop; with CI=true a missing
browser fails them, so CI can never pass by testing nothing.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_prerequisite
from tests.processes import Server

START_TIMEOUT = 90.0
PAGE_TIMEOUT = 30.0


def _executable(variable: str, *names: str) -> str | None:
    configured = os.environ.get(variable)
    if configured:
        return configured if Path(configured).is_file() else None
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None
        )
        if found:
            return found
    return None


@contextmanager
def serving(*bundles: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A ready `dockyard serve` of ``bundles`` for the browser to open, stopped on exit.
    A test module's own server is a module fixture that yields from this."""
    server = Server(*bundles, env=env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def served(
    iris_bundle: Path,
    churn_bundle: Path,
    diabetes_bundle: Path,
) -> Iterator[Server]:
    # Without a key, the model card shows package versions only when told to.
    versions = {"DOCKYARD_SHOW_VERSIONS": "true"}
    with serving(iris_bundle, churn_bundle, diabetes_bundle, env=versions) as server:
        yield server


@pytest.fixture(scope="session")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("DOCKYARD_SCREENSHOTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def browser(downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium = _executable("DOCKYARD_CHROMIUM", "chromium", "chromium-browser")
    driver_path = _executable("DOCKYARD_CHROMEDRIVER", "chromedriver")
    if chromium is None or driver_path is None:
        missing_prerequisite(
            "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
        )
    # A browser test module skips or fails on a missing selenium (browsing.py) before this runs.
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers and CI run as root, where the sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    # What the page logs to its console, read by console_errors().
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    service = Service(executable_path=str(driver_path), log_output=str(log))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        driver.set_script_timeout(PAGE_TIMEOUT)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield driver
    finally:
        # quit() ends the browser and stops the chromedriver process this fixture started.
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The errors the browser console showed since the last call (reading empties it):
    uncaught exceptions, unhandled promise rejections, console.error calls, Content-Security-
    Policy violations (refused scripts and loads), failed requests. Chromium's own log has
    them all, from every document the test opened, so no script needs injecting to see them."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(autouse=True)
def clean_console(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that drives the browser ends with an error-free console; a request that
    fails on purpose is taken off it by browsing.expect_failed_request."""
    if "browser" not in request.fixturenames:
        yield
        return
    driver = request.getfixturevalue("browser")
    console_errors(driver)  # what an earlier test left
    yield
    errors = console_errors(driver)
    assert errors == [], f"the browser console showed errors: {errors}"


def screenshot(driver: Any, path: Path, *, width: int = 1280, mobile: bool = False) -> Path:
    """A full-page PNG at ``width`` CSS pixels (390 with ``mobile`` is a phone)."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    try:
        # The whole page is in view now, so lazy images start loading: wait for them.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not driver.execute_script(
            "return Array.from(document.images).every(i => i.complete)"
        ):
            time.sleep(0.1)
        data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"]
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(data))
    return path

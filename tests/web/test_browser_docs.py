"""The API docs page (/docs) as a browser renders it: Swagger UI must read the server's
OpenAPI 3.1 document, list every operation and run one. Swagger UI 4 answered the same
HTML with "Unable to render this definition", which only a rendered page shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Server
from tests.web.browsing import By, documented_operations, ec, open_page, swagger_operations, wait
from tests.web.conftest import screenshot

pytestmark = pytest.mark.browser


def test_docs_list_every_operation(browser: Any, served: Server, screenshots: Path) -> None:
    document = httpx.get(f"{served.url}/openapi.json").json()
    open_page(browser, served, "/docs")
    listed = swagger_operations(browser)
    assert listed == documented_operations(document)
    assert ("POST", "/v1/models/iris/predict") in listed
    title = browser.find_element(By.CSS_SELECTOR, ".info .title")
    assert "Dockyard model server" in title.text
    assert "OAS 3.1" in title.text
    # One section per model, plus the shared ones.
    tags = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
    assert {"iris", "churn", "diabetes"} <= set(tags)
    screenshot(browser, screenshots / "docs-desktop.png")


def test_try_it_out_predicts_with_iris(browser: Any, served: Server, screenshots: Path) -> None:
    open_page(browser, served, "/docs")
    swagger_operations(browser)
    operation = browser.find_element(By.ID, "operations-iris-iris_predict")
    operation.find_element(By.CLASS_NAME, "opblock-summary-control").click()
    wait(browser, lambda d: operation.find_elements(By.CLASS_NAME, "try-out__btn"))
    operation.find_element(By.CLASS_NAME, "try-out__btn").click()
    body = wait(
        browser,
        lambda d: operation.find_element(By.CSS_SELECTOR, "textarea.body-param__text"),
    )
    record = json.loads(body.get_attribute("value"))  # the document's example, filled in
    assert set(record) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    operation.find_element(By.CLASS_NAME, "execute").click()
    live = ".live-responses-table .response"
    response = wait(
        browser,
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f"#{operation.get_attribute('id')} {live}")
        ),
    )
    assert response.find_element(By.CLASS_NAME, "response-col_status").text == "200"
    shown = json.loads(response.find_element(By.CSS_SELECTOR, ".highlight-code pre").text)
    expected = httpx.post(f"{served.url}/v1/models/iris/predict", json=record).json()
    assert shown["predictions"][0]["label"] == expected["predictions"][0]["label"]
    assert shown["predictions"][0]["label"] in {"setosa", "versicolor", "virginica"}
    browser.execute_script("arguments[0].scrollIntoView()", response)
    screenshot(browser, screenshots / "docs-try-it-out-desktop.png")

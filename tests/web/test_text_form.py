"""A text model's form in a real browser: a text box, a new sentence, a label. Every test
here also ends with an error-free browser console (see conftest.clean_console)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.processes import Server
from tests.web.browsing import By, ec, open_page, wait
from tests.web.conftest import screenshot, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def text_server(reviews_bundle: Path, sentiment_bundle: Path) -> Iterator[Server]:
    with serving(reviews_bundle, sentiment_bundle) as server:
        yield server


def _predict(driver: Any) -> str:
    driver.execute_script("document.getElementById('prediction-label')?.remove()")
    driver.find_element(By.ID, "predict-button").click()
    label = wait(driver, ec.visibility_of_element_located((By.ID, "prediction-label")))
    return str(label.text)


def test_a_text_model_takes_a_new_sentence(
    browser: Any, text_server: Server, screenshots: Path
) -> None:
    open_page(browser, text_server, "/models/sentiment")
    box = browser.find_element(By.CSS_SELECTOR, "textarea[name='text']")
    label = browser.find_element(By.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']")
    assert label.text == "Text"
    assert box.is_displayed()
    box.clear()
    box.send_keys("wonderful friendly staff, would come back")
    assert _predict(browser) == "good"
    box.clear()
    box.send_keys("rude and slow, never again")
    assert _predict(browser) == "bad"
    screenshot(browser, screenshots / "text-form-desktop.png")


def test_an_open_category_takes_a_new_value_and_age_may_be_empty(
    browser: Any, text_server: Server
) -> None:
    open_page(browser, text_server, "/models/reviews")
    review = browser.find_element(By.CSS_SELECTOR, "textarea[name='review']")
    review.clear()
    review.send_keys("rude and slow, never again")
    channel = browser.find_element(By.CSS_SELECTOR, "input[name='channel'][type='text']")
    assert channel.get_attribute("list")
    channel.clear()
    channel.send_keys("carrier pigeon")
    browser.find_element(By.NAME, "age").clear()
    assert _predict(browser) == "bad"

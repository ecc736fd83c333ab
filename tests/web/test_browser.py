"""The pages in a real browser: headless Chromium against a real `dockyard serve`. Every
test here also ends with an error-free browser console (see conftest.clean_console)."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IRIS_SETOSA
from tests.processes import Server
from tests.web.browsing import (
    WAIT,
    By,
    Keys,
    ec,
    expect_failed_request,
    fill,
    not_reloaded,
    open_page,
    shoot,
    wait,
)

pytestmark = pytest.mark.browser


def test_index_lists_the_models(browser: Any, served: Server, screenshots: Path) -> None:
    open_page(browser, served, "/")
    cards = browser.find_elements(By.CSS_SELECTOR, ".model-card")
    assert [c.find_element(By.TAG_NAME, "h2").text for c in cards] == ["iris", "churn", "diabetes"]
    assert "92.1%" in cards[0].text
    assert "Classification" in cards[0].text
    assert "Regression" in cards[2].text
    shoot(browser, screenshots, "index")
    cards[1].find_element(By.TAG_NAME, "a").click()
    wait(browser, ec.title_contains("churn"))


def test_form_predicts_without_a_reload(browser: Any, served: Server, screenshots: Path) -> None:
    open_page(browser, served, "/models/iris")
    for name, value in IRIS_SETOSA.items():
        fill(browser, name, value)
    browser.find_element(By.ID, "predict-button").click()
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert label.text == "setosa"
    assert not_reloaded(browser)
    bars = browser.find_elements(By.CSS_SELECTOR, "#result .bars .bar")
    assert bars[0].find_element(By.CLASS_NAME, "bar-name").text == "setosa"
    assert len(bars) == 3
    assert "bar-top" in bars[0].get_attribute("class")
    top_fill = bars[0].find_element(By.CLASS_NAME, "bar-fill").size["width"]
    last_fill = bars[-1].find_element(By.CLASS_NAME, "bar-fill").size["width"]
    assert top_fill > last_fill
    # The result region is announced to screen readers.
    assert browser.find_element(By.ID, "result-body").get_attribute("aria-live") == "polite"
    shoot(browser, screenshots, "model-iris")


def test_keyboard_only(browser: Any, served: Server) -> None:
    open_page(browser, served, "/models/iris")
    field = fill(browser, "petal_length", "5.5")
    field.send_keys(Keys.ENTER)  # Enter in a field submits the form
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert label.text in ("versicolor", "virginica")
    assert not_reloaded(browser)
    # Tab reaches the buttons, and they show where focus is.
    browser.find_element(By.NAME, "petal_width").click()
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "predict-button"


def test_invalid_value_is_shown_next_to_its_field(
    browser: Any, served: Server, screenshots: Path
) -> None:
    open_page(browser, served, "/models/churn")
    field = fill(browser, "tenure_months", "2.5")
    identifier = field.get_attribute("id")
    browser.find_element(By.ID, "predict-button").click()
    message = wait(browser, ec.visibility_of_element_located((By.ID, f"{identifier}-error")))
    assert "integer" in message.text  # the server's own reason
    expect_failed_request(browser, f"{served.url}/v1/models/churn/predict", 422)
    assert field.get_attribute("aria-invalid") == "true"
    assert f"{identifier}-error" in field.get_attribute("aria-describedby").split()
    # Focus goes to the field to fix, and a summary is announced.
    assert browser.switch_to.active_element.get_attribute("id") == identifier
    summary = browser.find_element(By.CSS_SELECTOR, "#result [role=alert]")
    assert "Tenure months" in summary.text
    assert not_reloaded(browser)
    shoot(browser, screenshots, "model-churn-invalid")
    # Correcting the value clears the message.
    field.send_keys(Keys.BACK_SPACE, Keys.BACK_SPACE)
    wait(browser, ec.invisibility_of_element_located((By.ID, f"{identifier}-error")))
    assert field.get_attribute("aria-invalid") is None


def test_empty_required_field(browser: Any, served: Server) -> None:
    open_page(browser, served, "/models/iris")
    field = browser.find_element(By.NAME, "sepal_width")
    field.clear()
    browser.find_element(By.ID, "predict-button").click()
    identifier = field.get_attribute("id")
    message = wait(browser, ec.visibility_of_element_located((By.ID, f"{identifier}-error")))
    assert "required" in message.text
    expect_failed_request(browser, f"{served.url}/v1/models/iris/predict", 422)


def _wait_for_download(directory: Path, name: str) -> Path:
    target = directory / name
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        partial = list(directory.glob("*.crdownload"))
        if target.is_file() and target.stat().st_size > 0 and not partial:
            return target
        time.sleep(0.1)
    raise AssertionError(f"no {name} in {directory}: {sorted(p.name for p in directory.iterdir())}")


def test_csv_upload_downloads_the_scored_file(
    browser: Any, served: Server, downloads: Path, screenshots: Path, tmp_path: Path
) -> None:
    source = tmp_path / "flowers.csv"
    source.write_text(
        "id,sepal_length,sepal_width,petal_length,petal_width\n"
        "a,5.1,3.5,1.4,0.2\n"
        "b,6.2,2.9,4.3,1.3\n"
        "c,7.7,3.0,6.1,2.3\n"
    )
    for old in downloads.glob("iris-predictions*.csv"):
        old.unlink()
    open_page(browser, served, "/models/iris")
    browser.find_element(By.ID, "csv-file").send_keys(str(source))
    browser.find_element(By.ID, "csv-button").click()
    scored = _wait_for_download(downloads, "iris-predictions.csv")
    with scored.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert [r["predicted_species"] for r in rows] == ["setosa", "versicolor", "virginica"]
    assert {"probability_setosa", "probability_versicolor", "probability_virginica"} <= set(rows[0])
    status = wait(browser, ec.visibility_of_element_located((By.ID, "csv-download")))
    assert status.text == "iris-predictions.csv"
    assert not_reloaded(browser)
    shoot(browser, screenshots, "model-iris-csv")


def test_bad_csv_gets_a_readable_error(
    browser: Any, served: Server, downloads: Path, screenshots: Path, tmp_path: Path
) -> None:
    source = tmp_path / "broken.csv"
    source.write_text("sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n")
    before = sorted(downloads.iterdir())
    open_page(browser, served, "/models/iris")
    browser.find_element(By.ID, "csv-file").send_keys(str(source))
    browser.find_element(By.ID, "csv-button").click()
    error = wait(
        browser, ec.visibility_of_element_located((By.CSS_SELECTOR, "#csv-status .notice-error"))
    )
    assert "petal_width" in error.text
    assert "lacks" in error.text
    expect_failed_request(browser, f"{served.url}/v1/models/iris/predict/csv", 422)
    assert browser.find_element(By.ID, "csv-file").get_attribute("aria-invalid") == "true"
    assert sorted(downloads.iterdir()) == before
    shoot(browser, screenshots, "model-iris-csv-error")


@pytest.mark.parametrize("model", ["iris", "diabetes"])
def test_model_card_shows_the_training_report(
    browser: Any, served: Server, screenshots: Path, model: str
) -> None:
    open_page(browser, served, f"/models/{model}")
    card = browser.find_element(By.ID, "card")
    for text in ("How well it does", "Trained", "Features", "Versions recorded", "scikit-learn"):
        assert text in card.text
    report = browser.find_element(By.ID, "report")
    browser.execute_script("arguments[0].scrollIntoView()", report)
    images = report.find_elements(By.CSS_SELECTOR, ".figure img")
    assert len(images) == 3
    for image in images:
        wait(
            browser,
            lambda d, image=image: d.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image
            ),
        )
        assert image.get_attribute("alt")
    shoot(browser, screenshots, f"model-{model}-card")


def test_regressor_shows_a_value(browser: Any, served: Server, screenshots: Path) -> None:
    open_page(browser, served, "/models/diabetes")
    browser.find_element(By.ID, "predict-button").click()
    value = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-value")))
    assert float(value.text.replace(",", "")) > 0
    assert not browser.find_elements(By.CSS_SELECTOR, "#result .bars")
    assert "off by" in browser.find_element(By.ID, "result").text
    shoot(browser, screenshots, "model-diabetes")


def test_unknown_model_shows_the_not_found_page(
    browser: Any, served: Server, screenshots: Path
) -> None:
    open_page(browser, served, "/models/nope")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert "nope" in browser.find_element(By.ID, "main").text
    expect_failed_request(browser, f"{served.url}/models/nope", 404)  # the page's own status
    shoot(browser, screenshots, "not-found")
    browser.find_element(By.LINK_TEXT, "See all models").click()
    wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".model-card")))

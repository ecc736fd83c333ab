"""XGBoost and LightGBM pipeline bundles in headless Chromium, against a real `dockyard
serve`: the form shows every feature and answers with a label and its probabilities, the
card and the report show the metrics and the plots; and an MLflow model imported without
data shows its metrics as unknown. Every test here ends with an error-free browser console
(see conftest.clean_console)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.predictor import Predictor
from tests.conftest import churn_frame
from tests.processes import Server
from tests.web.browsing import By, ec, fill, not_reloaded, open_page, shoot, wait
from tests.web.conftest import serving

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")

pytestmark = [
    pytest.mark.browser,
    # MLflow's own warnings while it saves (as in tests/training/test_mlflow_import.py).
    pytest.mark.filterwarnings(
        "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
    ),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

BOOSTED = ("churn-xgb", "churn-lgbm")
# A row the form is given: numbers, and a category for each string column.
ROW: dict[str, Any] = {
    "plan": "basic",
    "region": "north",
    "tenure_months": 3,
    "monthly_spend": 89.5,
}


def _boosted_bundle(path: Path) -> Path:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = churn_frame(rows=160)
    final = (
        xgboost.XGBClassifier(n_estimators=8, max_depth=2)
        if path.name == "churn-xgb"
        else lightgbm.LGBMClassifier(n_estimators=8, num_leaves=4, min_child_samples=5, verbose=-1)
    )
    prepare = ColumnTransformer(
        [
            ("numbers", "passthrough", ["tenure_months", "monthly_spend"]),
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
        ]
    )
    if path.name == "churn-xgb":  # XGBoost's classifier takes 0..n-1; the label is "yes"
        y = (y == "yes").astype(int).rename("churned")
    model = Pipeline([("prepare", prepare), ("model", final)]).fit(X, y)
    dockyard.save_bundle(model, X, y, name=path.name, path=path)
    return path


def _mlflow_bundle(root: Path) -> Path:
    """An MLflow model imported without data: its metrics are unknown."""
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from dockyard.training.imports import import_model

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    X, y = churn_frame(rows=60)
    numbers = X[["tenure_months", "monthly_spend"]].astype("float64")
    model = make_pipeline(LogisticRegression(max_iter=500)).fit(numbers, y)
    mlflow_sklearn.save_model(
        model,
        root / "mlflow",
        serialization_format="skops",
        input_example=numbers.head(2),
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
    )
    out = root / "churn-mlflow"
    import_model(root / "mlflow", sha256=None, data=None, target=None, name=out.name, out=out)
    return out


@pytest.fixture(scope="module")
def boost_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("boost-web")
    bundles = {name: _boosted_bundle(root / name) for name in BOOSTED}
    return bundles | {"churn-mlflow": _mlflow_bundle(root)}


@pytest.fixture(scope="module")
def boost_server(boost_bundles: dict[str, Path]) -> Iterator[Server]:
    with serving(*boost_bundles.values()) as server:
        yield server


def _set(driver: Any, name: str, value: object) -> None:
    field = driver.find_element(By.NAME, name)
    if field.tag_name == "select":
        from selenium.webdriver.support.ui import Select

        Select(field).select_by_value(str(value))
    else:
        fill(driver, name, value)


@pytest.mark.parametrize("name", BOOSTED)
def test_the_form_shows_every_feature_and_answers_with_probabilities(
    browser: Any,
    boost_server: Server,
    boost_bundles: dict[str, Path],
    screenshots: Path,
    name: str,
) -> None:
    open_page(browser, boost_server, f"/models/{name}")
    fields = browser.find_elements(By.CSS_SELECTOR, "#predict-form .field")
    assert [f.get_attribute("data-name") for f in fields] == list(ROW)
    for number in ("tenure_months", "monthly_spend"):
        assert browser.find_element(By.NAME, number).get_attribute("type") == "number"
    # The encoder ignores unseen plans: a text box suggesting the known ones.
    plan = browser.find_element(By.NAME, "plan")
    assert plan.get_attribute("type") == "text"
    suggestions = browser.find_element(By.ID, plan.get_attribute("list"))
    offered = suggestions.find_elements(By.TAG_NAME, "option")
    assert {o.get_attribute("value") for o in offered} == {"basic", "plus", "pro"}
    for column, value in ROW.items():
        _set(browser, column, value)
    browser.find_element(By.ID, "predict-button").click()
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert not_reloaded(browser)
    expected = Predictor.from_path(boost_bundles[name])
    answer = expected.predict_columns(expected.validator.records([ROW]))
    assert label.text == str(answer.outputs[0])
    bars = browser.find_elements(By.CSS_SELECTOR, "#result .bars .bar")
    assert len(bars) == 2
    shown = {
        bar.find_element(By.CLASS_NAME, "bar-name").text: bar.find_element(
            By.CLASS_NAME, "bar-value"
        ).text
        for bar in bars
    }
    assert set(shown) == {str(c) for c in expected.metadata.classes}
    assert all(value.endswith("%") for value in shown.values()), shown
    shoot(browser, screenshots, f"model-{name}")


@pytest.mark.parametrize("name", BOOSTED)
def test_the_card_and_the_report_show_metrics_and_plots(
    browser: Any, boost_server: Server, screenshots: Path, name: str
) -> None:
    open_page(browser, boost_server, f"/models/{name}")
    tiles = browser.find_elements(By.CSS_SELECTOR, "#card .tile-label")
    assert [t.text for t in tiles][:2] == ["Accuracy", "F1 (macro average)"]
    assert browser.find_element(By.CSS_SELECTOR, ".headline-value").text.endswith("%")
    estimator = "XGBClassifier" if name == "churn-xgb" else "LGBMClassifier"
    assert f"ColumnTransformer → {estimator}" in browser.find_element(By.ID, "card").text
    report = browser.find_element(By.ID, "report")
    link = report.find_element(By.PARTIAL_LINK_TEXT, "Open the report")
    browser.execute_script("arguments[0].scrollIntoView()", report)
    _loaded(browser, report.find_elements(By.CSS_SELECTOR, ".figure img"), 3)
    shoot(browser, screenshots, f"model-{name}-card")
    link.click()
    wait(browser, ec.title_contains("Training report"))
    values = browser.find_elements(By.CSS_SELECTOR, ".tile .v")
    assert len(values) == 2
    assert all(v.text.strip() for v in values)
    assert "Per class" in browser.find_element(By.TAG_NAME, "main").text
    _loaded(browser, browser.find_elements(By.CSS_SELECTOR, "figure img"), 3)
    shoot(browser, screenshots, f"report-{name}")


def _loaded(driver: Any, images: list[Any], count: int) -> None:
    assert len(images) == count
    for image in images:
        wait(
            driver,
            lambda d, image=image: d.execute_script(
                "return arguments[0].complete && arguments[0].naturalWidth > 0", image
            ),
        )
        assert image.get_attribute("alt")


def test_a_model_imported_without_data_shows_its_metrics_as_unknown(
    browser: Any, boost_server: Server, screenshots: Path
) -> None:
    open_page(browser, boost_server, "/")
    card = next(
        c for c in browser.find_elements(By.CSS_SELECTOR, ".model-card") if "churn-mlflow" in c.text
    )
    assert card.find_element(By.CSS_SELECTOR, ".metric").text == "unknown"
    open_page(browser, boost_server, "/models/churn-mlflow")
    assert browser.find_element(By.CSS_SELECTOR, ".headline-value").text == "unknown"
    model_card = browser.find_element(By.ID, "card")
    assert "Unknown: the model was imported without data to measure it on." in model_card.text
    assert not model_card.find_elements(By.CSS_SELECTOR, ".tile")
    assert "Training data\nunknown (imported without it)" in model_card.text
    # It still answers.
    browser.find_element(By.ID, "predict-button").click()
    label = wait(browser, ec.visibility_of_element_located((By.ID, "prediction-label")))
    assert label.text in {"no", "yes"}
    shoot(browser, screenshots, "model-churn-mlflow")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Open the report").click()
    wait(browser, ec.title_contains("Training report"))
    assert "not evaluated" in browser.find_element(By.CLASS_NAME, "lead").text
    assert browser.find_element(By.ID, "metrics-unknown").text.startswith("Unknown:")

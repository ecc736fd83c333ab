"""The monitoring page's HTML, in-process: the window parameter, a regressor's page, and
where the training reference is read from. (What a person sees is in
test_browser_monitor.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from dockyard.web import monitor
from tests.monitoring.logstore import LoggedRow, SQLiteLog


@pytest.fixture
def client(iris: Predictor, diabetes: Predictor, tmp_path: Path) -> Iterator[TestClient]:
    log = SQLiteLog(tmp_path / "log.db")
    now = time.time()
    log.insert_predictions(
        [
            LoggedRow(f"d{i}", 0, now - 60 * i, "diabetes", "1", "0" * 64, "sklearn", "json",
                      200, 4.0, None, 100.0 + i, None)
            for i in range(4)
        ]
    )  # fmt: skip
    log.insert_feedback(
        [Truth("d0", 0, "diabetes", 110.0, now), Truth("d1", 0, "diabetes", 91.0, now)]
    )
    with TestClient(create_app(Settings(), predictors=[iris, diabetes], store=log)) as test_client:
        yield test_client
    log.close()


@dataclass(frozen=True)
class Truth:
    request_id: str
    row: int
    model: str
    truth: Any
    time: float


@pytest.mark.parametrize("since", ["abc", "0h", "100d", "24"])
def test_a_bad_window_is_a_400_page_saying_what_is_expected(client: TestClient, since: str) -> None:
    page = client.get(f"/models/iris/monitor?since={since}")
    assert page.status_code == 400
    assert "must be a duration such as 30m, 24h, 7d or 2w" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_an_unknown_model_is_a_404_page(client: TestClient) -> None:
    assert client.get("/models/nope/monitor").status_code == 404


def test_a_regressor_shows_its_mean_prediction_and_error(client: TestClient) -> None:
    page = client.get("/models/diabetes/monitor?since=1h")
    assert page.status_code == 200
    assert "Mean prediction over time" in page.text
    # errors 10 and 10: MAE 10; truth 110 and 91: R² 1 - (100 + 100) / 180.5
    assert '<span class="tile-value">10</span><span class="tile-label">MAE</span>' in page.text
    assert f"{1 - 200 / 180.5:.3f}" in page.text
    assert "Mean absolute error by time" in page.text


def test_the_reference_is_read_from_bundle_json(iris: Predictor, tmp_path: Path) -> None:
    reference = monitor.bundle_reference(iris)
    assert reference is not None
    assert iris.metadata.reference is not None
    assert reference == iris.metadata.reference.model_dump(mode="json")
    assert set(reference["features"]) == set(iris.feature_names)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server import create_app
from dockyard.settings import Settings


@pytest.fixture(scope="session")
def predictors(
    iris: Predictor, wine_bundle: Path, churn: Predictor, diabetes: Predictor
) -> list[Predictor]:
    # The session already loaded iris, churn and diabetes; only wine is new here.
    return [iris, Predictor.from_path(wine_bundle), churn, diabetes]


@pytest.fixture(scope="module")
def client(predictors: list[Predictor]) -> Iterator[TestClient]:
    settings = Settings(max_body_bytes=64 * 1024, max_upload_bytes=256 * 1024, max_batch_rows=500)
    app = create_app(settings, predictors=predictors)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client

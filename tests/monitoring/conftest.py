from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.predictor import Predictor
from dockyard.predictor.events import PredictionEvent


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty prediction log database: a SQLite file, and the test PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log' / 'predictions.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def segments(unsupervised_bundles: dict[str, Path]) -> Predictor:
    return Predictor.from_path(unsupervised_bundles["segments"])


@pytest.fixture(scope="session")
def anomalies(unsupervised_bundles: dict[str, Path]) -> Predictor:
    return Predictor.from_path(unsupervised_bundles["anomalies"])


def answered(
    predictor: Predictor,
    records: list[dict[str, Any]],
    *,
    request_id: str = "r-1",
    entry: str = "json",
    first_row: int = 0,
    at: float | None = None,
) -> PredictionEvent:
    """The event the data plane sends for ``records`` answered by ``predictor``."""
    columns = predictor.validator.records(records)
    prediction = predictor.predict_columns(columns)
    return PredictionEvent(
        request_id=request_id,
        entry=entry,
        predictor=predictor,
        time=time.time() if at is None else at,
        latency=0.0025,
        status=200,
        columns=columns,
        prediction=prediction,
        first_row=first_row,
    )


def refused(
    predictor: Predictor, *, request_id: str = "r-bad", status: int = 422
) -> PredictionEvent:
    return PredictionEvent(
        request_id=request_id,
        entry="json",
        predictor=predictor,
        time=time.time(),
        latency=0.001,
        status=status,
        columns=None,
        prediction=None,
    )

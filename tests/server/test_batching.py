"""Adaptive batching: concurrent small requests share model calls, never each other's errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest

from dockyard.errors import InvalidInput
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.server.batching import Batcher
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA

ROWS = [
    [5.1, 3.5, 1.4, 0.2],
    [6.2, 2.9, 4.3, 1.3],
    [7.7, 3.0, 6.1, 2.3],
    [5.8, 2.7, 5.1, 1.9],
    [4.9, 3.0, 1.4, 0.2],
]


def _columns(rows: list[list[float]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


async def _gather(batcher: Batcher, requests: list[list[list[float]]]) -> list[Any]:
    return await asyncio.gather(
        *(batcher.predict(_columns(rows), len(rows)) for rows in requests),
        return_exceptions=True,
    )


def test_concurrent_requests_share_one_call_and_get_their_own_rows(iris: Predictor) -> None:
    requests = [[row] for row in ROWS] + [ROWS[:3], [ROWS[4]]]
    batcher = Batcher(iris, max_rows=64)
    results = asyncio.run(_gather(batcher, requests))
    assert batcher.calls == 1
    for rows, result in zip(requests, results, strict=True):
        alone = iris.predict_columns(_columns(rows))
        assert result.outputs == alone.outputs
        # float32 inside ONNX Runtime: a row may differ in the last digits by batch size.
        np.testing.assert_allclose(result.probabilities, alone.probabilities, rtol=0, atol=1e-6)


def test_max_rows_bounds_each_call(iris: Predictor) -> None:
    requests = [[row] for row in ROWS * 4]  # 20 single rows
    batcher = Batcher(iris, max_rows=8)
    results = asyncio.run(_gather(batcher, requests))
    assert batcher.calls == 3  # 8 + 8 + 4
    assert [r.outputs for r in results] == [
        iris.predict_columns(_columns(r)).outputs for r in requests
    ]


def test_a_bad_output_is_only_its_own_requests_error(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = iris.compute

    def compute(columns: list[list[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        outputs, probabilities = real(columns)
        assert probabilities is not None
        probabilities[np.asarray(columns[0]) == 99.0] = np.nan  # a row the model cannot score
        return outputs, probabilities

    monkeypatch.setattr(iris, "compute", compute)
    bad = [[99.0, 3.0, 1.4, 0.2]]
    requests = [[ROWS[0]], [ROWS[1], *bad], [ROWS[2]]]
    batcher = Batcher(iris, max_rows=64)
    good_first, failed, good_last = asyncio.run(_gather(batcher, requests))
    assert batcher.calls == 1
    assert good_first.outputs == ["setosa"]
    assert good_last.outputs == ["virginica"]
    assert isinstance(failed, InvalidInput)
    assert [e.row for e in failed.errors] == [1]  # its own row number, not the batch's


def test_a_failing_call_is_retried_request_by_request(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = iris.compute

    def compute(columns: list[list[Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        if 99.0 in columns[0]:
            raise InvalidInput([])  # what the scikit-learn path raises for unscorable input
        return real(columns)

    monkeypatch.setattr(iris, "compute", compute)
    requests = [[ROWS[0]], [[99.0, 3.0, 1.4, 0.2]], [ROWS[2]]]
    batcher = Batcher(iris, max_rows=64)
    first, failed, last = asyncio.run(_gather(batcher, requests))
    assert batcher.calls == 1 + 3
    assert (first.outputs, last.outputs) == (["setosa"], ["virginica"])
    assert isinstance(failed, InvalidInput)


@pytest.mark.parametrize("batch_rows", [64, 1])
def test_the_server_batches_concurrent_requests(iris: Predictor, batch_rows: int) -> None:
    app = create_app(Settings(batch_rows=batch_rows), predictors=[iris])
    records = [dict(zip(IRIS_SETOSA, row, strict=True)) for row in ROWS * 4]

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(
                *(client.post("/v1/models/iris/predict", json=r) for r in records)
            )

    responses = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses)
    labels = [r.json()["predictions"][0]["label"] for r in responses]
    assert labels == [iris.predict_columns(iris.validator.records([r])).outputs[0] for r in records]
    batcher = app.plane.batchers.get("iris")
    if batch_rows == 1:
        assert batcher is None
    else:
        assert batcher is not None
        assert batcher.calls < len(records)


def test_a_failure_while_settling_reaches_every_waiting_request(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(outputs: np.ndarray, probabilities: np.ndarray | None) -> bool:
        raise ValueError("a bug after the model call")

    monkeypatch.setattr(iris, "all_finite", broken)
    batcher = Batcher(iris, max_rows=64)
    results = asyncio.run(asyncio.wait_for(_gather(batcher, [[r] for r in ROWS]), timeout=5))
    assert all(isinstance(r, ValueError) for r in results)  # answered (a 500), not left waiting


def test_a_new_event_loop_starts_afresh(iris: Predictor) -> None:
    batcher = Batcher(iris, max_rows=64)

    async def abandon() -> None:
        # A request queued on a loop that ends before its flush runs.
        asyncio.get_running_loop().create_task(batcher.predict(_columns([ROWS[0]]), 1))

    asyncio.run(abandon())
    results = asyncio.run(asyncio.wait_for(_gather(batcher, [[ROWS[1]]]), timeout=5))
    assert results[0].outputs == ["versicolor"]

"""The fast path answers exactly as the framework route would, error cases included."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.server.conftest import exchange, post_scope

JSON = {"content-type": "application/json"}
CASES: dict[str, tuple[dict[str, str], bytes]] = {
    "one record": (
        JSON,
        b'{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}',
    ),
    "a list": (JSON, b'[{"sepal_length":5,"sepal_width":3,"petal_length":1,"petal_width":0.2}]'),
    "charset": ({"content-type": "application/json; charset=utf-8"}, b'{"sepal_length":1}'),
    "no content type": ({}, b'{"sepal_length":1,"sepal_width":1,"petal_length":1,"petal_width":1}'),
    "text/plain": ({"content-type": "text/plain"}, b"{}"),
    "bad JSON": (JSON, b"{"),
    "empty": (JSON, b""),
    "too long": ({**JSON, "content-length": "999999999"}, b"{}"),
    "a string for a number": (
        JSON,
        b'{"sepal_length":"5","sepal_width":3,"petal_length":1,"petal_width":0}',
    ),
    "no records": (JSON, b"[]"),
    "NaN output": (
        JSON,
        b'{"sepal_length":1e15,"sepal_width":-1e15,"petal_length":1e15,"petal_width":-1e15}',
    ),
}


def _apps(predictor: Predictor, **settings: Any) -> tuple[Any, Any]:
    fast = create_app(Settings(max_body_bytes=64 * 1024, **settings), predictors=[predictor])
    framework = create_app(Settings(max_body_bytes=64 * 1024, **settings), predictors=[predictor])
    framework.fast_path = None
    return fast, framework


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_answer_as_the_framework(iris: Predictor, case: str) -> None:
    headers, body = CASES[case]
    fast, framework = _apps(iris)
    assert exchange(fast, headers, body) == exchange(framework, headers, body)


def test_an_unexpected_error_is_the_same_500(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(columns: list[list[Any]]) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(iris, "compute", broken)
    fast, framework = _apps(iris, batch_rows=1)
    headers, body = CASES["one record"]
    got = exchange(fast, headers, body)
    assert got == exchange(framework, headers, body)
    status, response_headers, content, _ = got
    assert status == 500
    assert b"a bug" not in content
    assert ("x-content-type-options", "nosniff") in response_headers


@pytest.mark.parametrize("fast", [True, False])
def test_a_client_that_leaves_is_counted_and_not_answered(iris: Predictor, fast: bool) -> None:
    app = create_app(Settings(), predictors=[iris])
    if not fast:
        app.fast_path = None
    sent: list[dict] = []
    scope = post_scope("/v1/models/iris/predict", [(b"content-type", b"application/json")])

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent == []
    text = app.plane.metrics.exposition().decode()
    assert 'model="iris",status="499"' in text


def test_the_fast_path_takes_the_route(iris: Predictor) -> None:
    app = create_app(Settings(), predictors=[iris])
    with TestClient(app) as client:
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
    assert app.fast_path is not None
    assert (
        app.fast_path.match(
            {
                "type": "http",
                "method": "POST",
                "root_path": "",
                "path": "/v1/models/iris/predict",
                "headers": [(b"host", b"testserver")],
            }
        )
        is iris
    )

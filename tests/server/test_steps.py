"""The cross-cutting steps are one list: the middleware stack is built from it, the fast
path applies it, and the two answer every request alike in every configuration."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Router
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import DockyardApp, create_app
from dockyard.server.fastpath import FastPath
from dockyard.server.steps import RequestIdMiddleware, RequestIds, Step
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.server.conftest import exchange

KEY = "k3y-for-steps-0123456789"
ONE = b'{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}'
JSON = {"content-type": "application/json"}
CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "open": {},
    "key": {"api_key": KEY},
    "hosts": {"allowed_hosts": ["testserver", "api.example"]},
    "cors": {"cors_origins": ["https://app.example"]},
    "everything": {
        "api_key": KEY,
        "allowed_hosts": ["testserver"],
        "cors_origins": ["https://app.example"],
    },
}
REQUESTS: dict[str, tuple[dict[str, str], bytes]] = {
    "plain": (JSON, ONE),
    "right key": ({**JSON, "x-api-key": KEY}, ONE),
    "bearer": ({**JSON, "authorization": f"Bearer {KEY}"}, ONE),
    "wrong key": ({**JSON, "x-api-key": "nope"}, ONE),
    "other host": ({**JSON, "host": "rebound.example", "x-api-key": KEY}, ONE),
    "cross origin": ({**JSON, "origin": "https://app.example", "x-api-key": KEY}, ONE),
    "bad JSON": ({**JSON, "x-api-key": KEY}, b"{"),
    "bad value": ({**JSON, "x-api-key": KEY}, b'{"sepal_length":"x"}'),
}


def _pair(predictor: Predictor, settings: dict[str, Any]) -> tuple[DockyardApp, DockyardApp]:
    fast = create_app(Settings(**settings), predictors=[predictor])
    framework = create_app(Settings(**settings), predictors=[predictor])
    framework.fast_path = None
    return fast, framework


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_fast_path_and_middleware_answer_alike(iris: Predictor, configuration: str) -> None:
    fast, framework = _pair(iris, CONFIGURATIONS[configuration])
    for name, (headers, body) in REQUESTS.items():
        assert exchange(fast, headers, body) == exchange(framework, headers, body), name


def _stack(app: DockyardApp) -> list[type]:
    layers = []
    layer: Any = app.build_middleware_stack()
    while hasattr(layer, "app"):
        if not isinstance(layer, ServerErrorMiddleware | ExceptionMiddleware | Router):
            layers.append(type(layer))
        layer = layer.app
    return layers


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_the_middleware_stack_is_the_list_of_steps(iris: Predictor, configuration: str) -> None:
    app = create_app(Settings(**CONFIGURATIONS[configuration]), predictors=[iris])
    assert _stack(app) == [step.middleware.cls for step in app.steps]
    names = [step.name for step in app.steps]
    assert names[:4] == ["security headers", "request id", "errors", "metrics"]
    assert names[-1] == "body deadline"


def test_a_step_the_fast_path_cannot_apply_stops_the_server(iris: Predictor) -> None:
    app = create_app(Settings(), predictors=[iris])
    assert app.fast_path is not None
    unknown = Step("audit", Middleware(RequestIdMiddleware), (object(),))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot apply the step 'audit'"):
        FastPath(app.fast_path._endpoint, app.plane, [*app.steps, unknown])


def test_the_fast_path_needs_the_steps_that_shape_its_answers(iris: Predictor) -> None:
    app = create_app(Settings(), predictors=[iris])
    assert app.fast_path is not None
    without_metrics = [s for s in app.steps if s.name != "metrics"]
    with pytest.raises(ValueError, match="needs the request id, metrics"):
        FastPath(app.fast_path._endpoint, app.plane, without_metrics)


@pytest.mark.parametrize("fast", [True, False])
def test_request_ids(iris: Predictor, fast: bool) -> None:
    app = create_app(Settings(), predictors=[iris])
    if not fast:
        app.fast_path = None
    with TestClient(app) as client:
        ids = [
            client.post("/v1/models/iris/predict", json=IRIS_SETOSA).headers["x-request-id"]
            for _ in range(3)
        ]
        assert len(set(ids)) == 3
        mine = client.post(
            "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"X-Request-ID": "order-42"}
        )
        assert mine.headers["x-request-id"] == "order-42"
        # Not plain, or too long: replaced by one of the server's, never echoed.
        for hostile in ("a b", "x" * 129, "<script>"):
            answer = client.post(
                "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"X-Request-ID": hostile}
            )
            assert answer.headers["x-request-id"] not in (hostile, "")
        # Every route, errors included.
        assert client.get("/healthz").headers["x-request-id"]
        assert client.get("/no/such/route").headers["x-request-id"]


def test_one_process_ids_sort_in_the_order_they_were_given() -> None:
    # The prediction log indexes request ids: ids that sort in order are appended to the
    # index instead of inserted anywhere in it.
    ids = RequestIds()
    given = [ids.of({"headers": []}) for _ in range(300)]
    assert given == sorted(given)
    assert len(set(given)) == 300

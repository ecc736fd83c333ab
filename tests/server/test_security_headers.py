"""Headers and disclosure: one policy per page, no caching, versions, trusted Host names."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.server.security import TrustedHosts
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.server.conftest import post_scope

PREDICT = "/v1/models/iris/predict"
KEY = "k3y-for-tests-0123456789"


@pytest.fixture(scope="module")
def plain(iris: Predictor) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), predictors=[iris])) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/models/iris", "/login", "/docs", "/models/nope"])
def test_one_content_security_policy_per_response(plain: TestClient, path: str) -> None:
    response = plain.get(path)
    assert response.headers["content-type"].startswith("text/html")
    assert len(response.headers.get_list("content-security-policy")) == 1


def test_answers_are_not_stored_assets_may_be(plain: TestClient) -> None:
    fast = plain.post(PREDICT, json=IRIS_SETOSA)
    query = plain.get(PREDICT, params=IRIS_SETOSA)
    csv = plain.post(
        f"{PREDICT}/csv",
        content=b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n",
        headers={"content-type": "text/csv"},
    )
    error = plain.post(PREDICT, json={"sepal_length": "x"})
    for response in (
        fast,
        query,
        csv,
        error,
        plain.get("/models/iris"),
        plain.get("/"),
        plain.get("/metrics"),
        plain.get("/v1/models/iris"),
    ):
        assert response.headers.get_list("cache-control") == ["no-store"], response.url
    assert csv.headers["content-type"].startswith("text/csv")
    assert "cache-control" not in plain.get("/static/web/dockyard.css").headers


def test_versions_are_shown_only_to_key_holders_or_by_setting(iris: Predictor) -> None:
    with TestClient(create_app(Settings(), predictors=[iris])) as anonymous:
        detail = anonymous.get("/v1/models/iris").json()
        assert "environment" not in detail["metadata"]
        assert detail["metadata"]["features"]  # the rest is still there
        page = anonymous.get("/models/iris").text
        assert "Running here" not in page
        assert "scikit-learn" not in page
        assert "DOCKYARD_SHOW_VERSIONS" in page
    with TestClient(create_app(Settings(show_versions=True), predictors=[iris])) as shown:
        assert shown.get("/v1/models/iris").json()["metadata"]["environment"]["python"]
        assert "Running here" in shown.get("/models/iris").text
    with TestClient(create_app(Settings(api_key=KEY), predictors=[iris])) as keyed:
        headers = {"x-api-key": KEY}
        assert keyed.get("/v1/models/iris", headers=headers).json()["metadata"]["environment"]
        assert "Running here" in keyed.get("/models/iris", headers=headers).text


def _loopback(iris: Predictor, **settings: Any) -> Any:
    # allowed_hosts given: the tests' environment lets "testserver" in.
    return create_app(Settings(allowed_hosts=[], **settings), predictors=[iris])


@pytest.mark.parametrize("fast", [True, False])
def test_other_host_names_are_refused_on_loopback(iris: Predictor, fast: bool) -> None:
    app = _loopback(iris)
    if not fast:
        app.fast_path = None
    with TestClient(app, base_url="http://rebound.example:8000") as rebound:
        for response in (rebound.post(PREDICT, json=IRIS_SETOSA), rebound.get("/v1/models")):
            assert response.status_code == 400
            assert response.text == "Invalid host header"
            assert response.headers["x-frame-options"] == "DENY"
    for base in ("http://127.0.0.1:8000", "http://localhost", "http://[::1]:8000"):
        with TestClient(app, base_url=base) as local:
            assert local.post(PREDICT, json=IRIS_SETOSA).status_code == 200, base
            assert local.get("/v1/models").status_code == 200, base


def test_the_fast_path_leaves_other_hosts_to_the_middleware(iris: Predictor) -> None:
    app = _loopback(iris)
    assert app.fast_path is not None
    good = post_scope(PREDICT, [(b"host", b"127.0.0.1:8000")])
    bad = post_scope(PREDICT, [(b"host", b"rebound.example")])
    assert app.fast_path.match(good) is iris
    assert app.fast_path.match(bad) is None
    assert (
        app.fast_path.match(post_scope(PREDICT, [(b"host", b"localhost.rebound.example")])) is None
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(bad, receive, send))
    assert sent[0]["status"] == 400


def test_hosts_any_name_off_loopback_or_as_configured(iris: Predictor) -> None:
    assert Settings(host="0.0.0.0", allowed_hosts=[]).trusted_hosts() == ["*"]
    assert Settings(host="::1", allowed_hosts=[]).trusted_hosts() == [
        "localhost",
        "127.0.0.1",
        "[::1]",
    ]
    app = create_app(Settings(host="0.0.0.0", allowed_hosts=[]), predictors=[iris])
    with TestClient(app, base_url="http://model.internal") as anywhere:
        assert anywhere.post(PREDICT, json=IRIS_SETOSA).status_code == 200
    app = create_app(Settings(allowed_hosts=["*.example.com"]), predictors=[iris])
    with TestClient(app, base_url="http://api.example.com") as named:
        assert named.post(PREDICT, json=IRIS_SETOSA).status_code == 200
    with TestClient(app, base_url="http://example.org") as other:
        assert other.post(PREDICT, json=IRIS_SETOSA).status_code == 400
    with pytest.raises(ValidationError, match="is not a host name"):
        Settings(allowed_hosts=["api.*.com"])


HOSTS = [
    "localhost",
    "LOCALHOST:8000",
    "127.0.0.1",
    "127.0.0.1:80",
    "127.0.0.2",
    "[::1]",
    "[::1]:8000",
    "::1",
    "[::2]",
    "localhost:",
    "localhost:x",
    "localhost.evil",
    "evil.localhost",
    "api.example.com",
    "a.b.example.com:443",
    "example.com",
    "evilexample.com",
    "x/y.example.com",
    "x y.example.com",
    "",
]


@pytest.mark.parametrize(
    "patterns", [["localhost", "127.0.0.1", "[::1]"], ["*.example.com", "localhost"]]
)
def test_the_fast_path_admits_no_host_the_middleware_refuses(patterns: list[str]) -> None:
    hosts = TrustedHosts(patterns)

    async def admitted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["admitted"] = True

    async def ignore(message: Any) -> None:
        pass

    middleware = TrustedHostMiddleware(admitted, allowed_hosts=patterns, www_redirect=False)
    fast_admits = 0
    for host in HOSTS:
        scope = post_scope("/", [(b"host", host.encode())])
        asyncio.run(middleware(scope, ignore, ignore))
        if hosts.admits(scope):
            fast_admits += 1
            assert scope.get("admitted"), host
    assert fast_admits >= 4


def test_exposed_without_a_key() -> None:
    assert not Settings().exposed_without_key
    assert not Settings(host="localhost").exposed_without_key
    assert Settings(host="0.0.0.0").exposed_without_key
    assert Settings(host="192.0.2.1").exposed_without_key
    assert not Settings(host="0.0.0.0", api_key=KEY).exposed_without_key

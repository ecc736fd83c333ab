from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.errors import UsageError
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.server.conftest import post_scope


@pytest.fixture(scope="module")
def iris_only(predictors: list[Predictor]) -> list[Predictor]:
    return predictors[:1]


def test_security_headers(client: TestClient) -> None:
    api = client.get("/v1/models")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in api.headers
    docs = client.get("/docs")
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in docs.text  # no inline script: the CSP would block it
    assert client.get("/static/docs/swagger-init.js").status_code == 200


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.post(
        "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/models/iris/predict",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_configured_origins(iris_only: list[Predictor]) -> None:
    app = create_app(Settings(cors_origins=["https://app.example"]), predictors=iris_only)
    with TestClient(app) as client:
        ok = client.post(
            "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"origin": "https://app.example"}
        )
        assert ok.headers["access-control-allow-origin"] == "https://app.example"
        other = client.post(
            "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("source", ["env", "file"])
def test_api_key(
    iris_only: list[Predictor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    if source == "env":
        monkeypatch.setenv("DOCKYARD_API_KEY", "s3cret-key-0123456789")
        settings = Settings()
    else:
        secret = tmp_path / "key"
        secret.write_text("s3cret-key-0123456789\n")
        settings = Settings(api_key_file=secret)
    app = create_app(settings, predictors=iris_only)
    with TestClient(app) as client:
        for headers in (
            {},
            {"authorization": "Bearer wrong"},
            {"x-api-key": "s3cret-key-012345678"},
        ):
            denied = client.post("/v1/models/iris/predict", json=IRIS_SETOSA, headers=headers)
            assert denied.status_code == 401
            assert denied.json()["code"] == "unauthorized"
            assert denied.headers["www-authenticate"].startswith("Bearer")
            assert "s3cret" not in denied.text
        for headers in (
            {"authorization": "Bearer s3cret-key-0123456789"},
            {"x-api-key": "s3cret-key-0123456789"},
        ):
            assert (
                client.post(
                    "/v1/models/iris/predict", json=IRIS_SETOSA, headers=headers
                ).status_code
                == 200
            )
        for probe in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
            assert client.get(probe).status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/v1/models").status_code == 401


def test_api_key_file_problems(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="Cannot read the API key file"):
        Settings(api_key_file=tmp_path / "missing").resolved_api_key()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        Settings(api_key_file=tmp_path / "empty").resolved_api_key()


def test_secret_is_not_shown_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_API_KEY", "s3cret-key-0123456789")
    assert "s3cret" not in repr(Settings())


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/iris/predict",  # the fast path
        "/v2/models/iris/infer",  # through the framework's middleware
    ],
)
def test_a_trickling_body_gets_408(iris_only: list[Predictor], path: str) -> None:
    app = create_app(Settings(request_timeout=0.2), predictors=iris_only)
    sent: list[dict] = []

    async def receive() -> dict:
        if not sent:
            sent.append({})
            return {"type": "http.request", "body": b'{"sepal_length"', "more_body": True}
        await asyncio.sleep(5)  # the client stalls mid-body
        return {"type": "http.request", "body": b"", "more_body": False}

    messages: list[dict] = []

    async def send(message: dict) -> None:
        messages.append(message)

    scope = post_scope(path, [(b"content-type", b"application/json"), (b"host", b"testserver")])

    async def run() -> None:
        await asyncio.wait_for(app(scope, receive, send), timeout=3)

    asyncio.run(run())
    assert messages[0]["status"] == 408
    assert b"did not arrive within 0.2 s" in messages[1]["body"]


def test_people_sign_in_to_the_pages(
    iris_only: list[Predictor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_API_KEY", "s3cret-key-0123456789")
    app = create_app(Settings(), predictors=iris_only)
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/models/iris")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/models/iris"
        assert client.get("/login").status_code == 200
        assert client.get("/static/web/dockyard.css").status_code == 200
        wrong = client.post("/login", data={"key": "nope", "next": "/models/iris"})
        assert wrong.status_code == 401
        assert "not the API key" in wrong.text
        ok = client.post(
            "/login", data={"key": "s3cret-key-0123456789", "next": "//evil.example/x"}
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/"  # never off-site
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "s3cret" not in cookie  # a derived token, not the key
        assert client.get("/models/iris").status_code == 200
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
        client.cookies.clear()
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 401


def test_body_deadlines_time_out_only_late_reads() -> None:
    from dockyard.errors import RequestTimeout
    from dockyard.server.security import BodyDeadlines

    deadlines = BodyDeadlines(0.2)

    async def arrives_after(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "body"

    async def run() -> None:
        assert await deadlines.read(arrives_after(0.01), deadlines.deadline()) == "body"
        with pytest.raises(RequestTimeout):
            await deadlines.read(arrives_after(5), deadlines.deadline())
        # Someone else's cancellation stays a cancellation.
        task = asyncio.create_task(deadlines.read(arrives_after(5), deadlines.deadline()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Many reads at once: each finishes or times out on its own.
        quick = [deadlines.read(arrives_after(0.05), deadlines.deadline()) for _ in range(50)]
        slow = [deadlines.read(arrives_after(5), deadlines.deadline()) for _ in range(5)]
        results = await asyncio.gather(*quick, *slow, return_exceptions=True)
        assert results[:50] == ["body"] * 50
        assert all(isinstance(r, RequestTimeout) for r in results[50:])

    asyncio.run(asyncio.wait_for(run(), timeout=10))
    asyncio.run(asyncio.wait_for(run(), timeout=10))  # a second event loop, as tests make


def test_a_shutdown_cancel_in_the_sweeps_turn_stays_a_cancel() -> None:
    from dockyard.server.security import BodyDeadlines

    deadlines = BodyDeadlines(30)

    async def run() -> None:
        never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(deadlines.read(never, deadlines.deadline() - 60))
        await asyncio.sleep(0)  # the read is registered, already late
        deadlines._sweep()  # the sweep cancels it for its deadline...
        task.cancel()  # ...and a shutdown cancels it in the same turn
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())

"""An unexpected error is answered with the one 500 body and logged exactly once, by
Dockyard, also when a real uvicorn serves the app (it logged its own copy before)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.testclient import TestClient
from starlette.types import Message

from dockyard.predictor import Predictor
from dockyard.server import v1 as v1_module
from dockyard.server.app import DockyardApp, create_app
from dockyard.settings import Settings
from tests.processes import free_port
from tests.server.conftest import post_scope


def _failing_app(iris: Predictor, monkeypatch: pytest.MonkeyPatch) -> DockyardApp:
    app = create_app(Settings(), predictors=[iris])

    def broken(predictor: Predictor, versions_shown: bool) -> dict[str, object]:
        raise RuntimeError("a bug, not the caller's doing")

    monkeypatch.setattr(v1_module, "detail", broken)
    return app


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info is not None]


@contextlib.contextmanager
def serving(app: DockyardApp) -> Iterator[str]:
    """``app`` under a real uvicorn server on a free port, stopped (every request finished
    and logged) on leaving."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    # Off the main thread: neither uvicorn nor Dockyard installs signal handlers.
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive(), "uvicorn did not stop"


def test_a_500_under_uvicorn_is_logged_once(
    iris: Predictor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.ERROR)
    with serving(_failing_app(iris, monkeypatch)) as url:
        response = httpx.get(f"{url}/v1/models/iris", timeout=10)
    assert response.status_code == 500
    assert response.json()["code"] == "internal"
    assert response.headers["x-content-type-options"] == "nosniff"
    records = _tracebacks(caplog)
    assert [(r.name, r.getMessage()) for r in records] == [
        ("dockyard.server", "unhandled error on GET /v1/models/iris")
    ]
    assert "a bug, not the caller's doing" in str(records[0].exc_info[1])  # type: ignore[index]


def test_a_failing_error_handler_still_gives_one_500_and_one_record(
    iris: Predictor, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _failing_app(iris, monkeypatch)

    async def handler(request: Request, exc: Exception) -> Response:
        raise LookupError("the handler failed too")

    app.exception_handlers[Exception] = handler  # before the first request builds the stack
    caplog.set_level(logging.ERROR)
    with TestClient(app) as client:  # raise_server_exceptions: nothing gets out of the app
        response = client.get("/v1/models/iris")
    assert response.status_code == 500
    assert response.json()["code"] == "internal"
    assert response.headers["x-content-type-options"] == "nosniff"
    records = _tracebacks(caplog)
    assert len(records) == 1
    assert isinstance(records[0].exc_info[1], LookupError)  # type: ignore[index]
    # The original error is in the same record, as the cause of the handler's.
    assert isinstance(records[0].exc_info[1].__context__, RuntimeError)  # type: ignore[index]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/v2/models/iris/infer", b"application/json"), ("/v1/models/iris/predict/csv", b"text/csv")],
)
def test_a_client_that_leaves_mid_body_is_not_a_500(
    iris: Predictor, caplog: pytest.LogCaptureFixture, path: str, content_type: bytes
) -> None:
    app = create_app(Settings(), predictors=[iris])
    app.fast_path = None
    caplog.set_level(logging.ERROR)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(post_scope(path, [(b"content-type", content_type)]), receive, send))
    assert sent == []
    assert not caplog.records
    assert 'status="499"' in app.plane.metrics.exposition().decode()

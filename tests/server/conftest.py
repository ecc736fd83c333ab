from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings


@pytest.fixture(scope="session")
def predictors(
    iris: Predictor, wine_bundle: Path, churn: Predictor, diabetes: Predictor
) -> list[Predictor]:
    # The session already loaded iris, churn and diabetes; only wine is new here.
    return [iris, Predictor.from_path(wine_bundle), churn, diabetes]


@pytest.fixture(scope="module")
def client(predictors: list[Predictor]) -> Iterator[TestClient]:
    settings = Settings(
        max_body_bytes=64 * 1024,
        max_upload_bytes=256 * 1024,
        max_batch_rows=500,
        show_versions=True,
    )
    app = create_app(settings, predictors=predictors)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def post_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a POST to ``path``, for tests that drive the app by hand (with
    the TestClient's Host unless ``headers`` has one)."""
    if not any(name == b"host" for name, _ in headers):
        headers = [(b"host", b"testserver"), *headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def exchange(
    app: Any, headers: dict[str, str], body: bytes, path: str = "/v1/models/iris/predict"
) -> tuple[int, list[tuple[str, str]], bytes, list[str]]:
    """POST ``body`` to ``app``: the status, sorted headers and body of the answer, and how
    ``/metrics`` counted it (to compare the fast path with the framework)."""
    with TestClient(app, raise_server_exceptions=False) as client:
        # The caller's request id, so that both answers carry the same one.
        headers = {"x-request-id": "same-for-both", **headers}
        response = client.post(path, headers=headers, content=body)
        metrics = client.get(
            "/metrics", headers={k: v for k, v in headers.items() if k in KEY_HEADERS}
        ).text
    counted = [
        line.split("{")[1].split("}")[0]
        for line in metrics.splitlines()
        if line.startswith("dockyard_requests_total{") and "predict" in line
    ]
    return response.status_code, sorted(response.headers.items()), response.content, counted


KEY_HEADERS = ("x-api-key", "authorization", "host")


def request_cost(
    client: TestClient, build: Callable[[TestClient, int], httpx.Response], n: int, status: int
) -> float:
    """The best of three timings of ``build(client, n)``, each answered with ``status``: the
    cost side of the parsers' hostile-input tests."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        response = build(client, n)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == status, response.text[:300]
    return best

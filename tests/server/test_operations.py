"""Probes and metrics: /healthz, /readyz, /metrics."""

from __future__ import annotations

from starlette.testclient import TestClient

from dockyard.server.app import create_app
from dockyard.settings import Settings


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {
        "status": "ready",
        "models": ["churn", "diabetes", "iris", "wine"],
    }


def test_not_ready_outside_lifespan(predictors: list) -> None:
    app = create_app(Settings(), predictors=predictors)
    bare = TestClient(app)  # not entered: no lifespan, so never marked ready
    response = bare.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"


def test_metrics(client: TestClient) -> None:
    client.post(
        "/v1/models/wine/predict",
        json=client.get("/v1/models/wine").json()["metadata"]["input_example"][0],
    )
    client.post("/v1/models/nope/predict", json={})
    text = client.get("/metrics").text
    assert (
        'dockyard_requests_total{endpoint="/v1/models/{name}/predict",method="POST",model="wine",status="200"}'
        in text
    )
    assert 'model="",status="404"' in text  # unknown names never become label values
    assert "dockyard_request_duration_seconds_bucket" in text
    assert 'dockyard_predictions_total{label="class_0",model="wine"}' in text

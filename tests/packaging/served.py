"""What the container tests share: requests to a served image and comparison with local predictions."""

from __future__ import annotations

import http.client
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import dockyard
from dockyard.predictor import Predictor
from dockyard.runtime.loading import RuntimeChoice


def python_in(client: Any, tag: str, code: str) -> str:
    """What ``python -c code`` prints in a throwaway container of ``tag``, offline."""
    output: bytes = client.containers.run(
        tag, ["python", "-c", code], remove=True, network_disabled=True
    )
    return output.decode()


def console() -> Console:
    return Console(file=io.StringIO(), width=200)


def request(url: str, method: str = "GET", path: str = "/", body: Any = None) -> tuple[int, Any]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, body=payload, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def predict(url: str, name: str, records: list[dict[str, Any]]) -> Any:
    status, body = request(url, "POST", f"/v1/models/{name}/predict", records)
    assert status == 200, body
    return body


def local(bundle: Path, records: list[dict[str, Any]], *, runtime: RuntimeChoice = "auto") -> Any:
    """What ``dockyard serve`` answers here: the runtime the bundle records, as every image."""
    predictor = Predictor.from_path(bundle, runtime=runtime)
    return json.loads(
        json.dumps(
            predictor.response(predictor.predict_columns(predictor.validator.records(records)))
        )
    )


def assert_same(container: Any, local: Any, *, tolerance: float | None = None) -> None:
    """Labels identical; probabilities to float32 precision (both sides run the same runtime)
    or within ``tolerance`` (absolute: ONNX Runtime against scikit-learn)."""
    assert container["model"] == local["model"]
    assert container["version"] == local["version"]
    assert [p["label"] for p in container["predictions"]] == [
        p["label"] for p in local["predictions"]
    ]
    for ours, theirs in zip(container["predictions"], local["predictions"], strict=True):
        expected = theirs.get("probabilities", {})
        close = (
            pytest.approx(expected, rel=1e-5, abs=1e-7)
            if tolerance is None
            else pytest.approx(expected, rel=0, abs=tolerance)
        )
        assert ours.get("probabilities", {}) == close


def records(bundle: Path) -> list[dict[str, Any]]:
    meta = dockyard.read_metadata(bundle)
    rows = [dict(meta.input_example[0])]
    for feature in meta.features:
        if feature.minimum is not None and feature.maximum is not None:
            rows.append({**rows[0], feature.name: (feature.minimum + feature.maximum) / 2})
    return rows


def first_prediction(
    url: str, name: str, records: list[dict[str, Any]], *, since: float, timeout: float = 30
) -> tuple[Any, float]:
    """Poll until the container answers a prediction; return it and the seconds since ``since``."""
    while True:
        try:
            answer = predict(url, name, records)
            return answer, time.monotonic() - since
        except (OSError, http.client.HTTPException, AssertionError, ValueError):
            if time.monotonic() - since > timeout:
                raise
            time.sleep(0.02)


def assert_serves_like_local(client: Any, tag: str, bundle: Path, containers: list[Any]) -> None:
    """Run ``tag``, wait until it is ready, and compare its predictions with scikit-learn here."""
    from dockyard.packaging import engine

    container, url = engine.run(client, tag, port=None)
    containers.append(container)
    engine.wait_ready(url, timeout=30, container=container)
    rows = records(bundle)
    assert_same(predict(url, bundle.name, rows), local(bundle, rows))

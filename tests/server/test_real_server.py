"""Against a real `dockyard serve` process on a real socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from dockyard.server.metrics import FLUSH_SECONDS
from tests.conftest import IRIS_SETOSA, require
from tests.processes import Server, free_port, tcp_sockets, worker_pids


@pytest.fixture(scope="module")
def server(iris_bundle: Path, wine_bundle: Path) -> Iterator[Server]:
    running = Server(iris_bundle, wine_bundle)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_serves_predictions_over_a_socket(server: Server) -> None:
    response = httpx.post(f"{server.url}/v1/models/iris/predict", json=IRIS_SETOSA)
    assert response.status_code == 200
    assert response.json()["predictions"][0]["label"] == "setosa"
    query = httpx.get(f"{server.url}/v1/models/iris/predict", params=IRIS_SETOSA)
    assert query.json() == response.json()
    assert "server" not in response.headers  # no version banner


def test_bad_input_does_not_hurt_the_server(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        for body in (b"{", b"\xff\xfe", b"[" * 10000, b'{"sepal_length": 1e999}'):
            response = client.post(
                "/v1/models/iris/predict",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert 400 <= response.status_code < 500
        assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200


def test_off_the_shelf_v2_client(server: Server) -> None:
    tritonclient = require("tritonclient.http")
    client = tritonclient.InferenceServerClient(url=f"127.0.0.1:{server.url.rsplit(':', 1)[1]}")
    try:
        assert client.is_server_live()
        assert client.is_model_ready("iris")
        metadata = client.get_model_metadata("iris")
        assert [i["name"] for i in metadata["inputs"]] == list(IRIS_SETOSA)
        inputs = []
        for name, value in IRIS_SETOSA.items():
            tensor = tritonclient.InferInput(name, [2], "FP64")
            tensor.set_data_from_numpy(np.array([value, value * 1.4]), binary_data=True)
            inputs.append(tensor)
        outputs = [tritonclient.InferRequestedOutput("predict_proba", binary_data=False)]
        result = client.infer("iris", inputs, outputs=outputs)
        probabilities = result.as_numpy("predict_proba")
        assert probabilities.shape == (2, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    finally:
        client.close()


def test_two_workers_share_metrics_and_shut_down_cleanly(iris_bundle: Path) -> None:
    running = Server(iris_bundle, workers=2)
    try:
        running.wait_ready()
        with httpx.Client(base_url=running.url, timeout=5) as client:
            for _ in range(40):
                assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
            # Summed over both workers; the one not answering the scrape flushes within
            # FLUSH_SECONDS.
            deadline = time.monotonic() + 5 * FLUSH_SECONDS
            while (total := _setosa_total(client.get("/metrics").text)) < 40:
                assert time.monotonic() < deadline, f"metrics stuck at {total}"
                time.sleep(0.1)
        assert total == 40.0
    finally:
        code = running.stop()
    assert code == 0


def test_each_worker_listens_on_its_own_socket(iris_bundle: Path) -> None:
    # One shared socket lets the first worker to wake take every waiting connection.
    running = Server(iris_bundle, workers=2)
    try:
        running.wait_ready()
        deadline = time.monotonic() + 60
        while True:
            workers = worker_pids(running.pid)
            listening = {
                pid: [i for state, i in tcp_sockets(pid, running.port) if state == "LISTEN"]
                for pid in workers
            }
            if len(workers) == 2 and all(listening.values()):
                break
            assert time.monotonic() < deadline, f"workers never all listened: {listening}"
            time.sleep(0.1)
        inodes = [i for found in listening.values() for i in found]
        assert len(inodes) == len(set(inodes)) == 2  # not one socket inherited by both
        assert not [s for s in tcp_sockets(running.pid, running.port) if s[0] == "LISTEN"]
        # Nobody else joins the port through SO_REUSEPORT.
        command = [sys.executable, "-m", "dockyard", "serve", str(iris_bundle)]
        second = subprocess.run(
            [*command, "--port", str(running.port), "--workers", "2"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"Cannot listen on 127.0.0.1:{running.port}" in second.stderr

        # And the kernel spreads connections opened together over both.
        clients = [httpx.Client(base_url=running.url, timeout=5) for _ in range(24)]
        try:
            for client in clients:
                assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
            held = {
                pid: sum(state == "ESTABLISHED" for state, _ in tcp_sockets(pid, running.port))
                for pid in workers
            }
        finally:
            for client in clients:
                client.close()
        assert all(held.values()), held
    finally:
        assert running.stop() == 0


def _setosa_total(text: str) -> float:
    prefix = 'dockyard_predictions_total{label="setosa",model="iris"}'
    return sum(float(row.split()[-1]) for row in text.splitlines() if row.startswith(prefix))


def test_refuses_a_tampered_bundle_at_start(iris_bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(iris_bundle, tmp_path / "iris"))
    (copy / "model.skops").write_bytes(b"not a model")
    done = subprocess.run(
        [sys.executable, "-m", "dockyard", "serve", str(copy), "--port", str(free_port())],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 3
    assert "model.skops has sha256" in done.stderr
    assert "Traceback" not in done.stderr

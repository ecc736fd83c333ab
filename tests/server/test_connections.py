"""Connection limits on a real socket: slow headers are cut off, a flood of idle
connections is bounded, and a port in use is one line before anything loads."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import IRIS_SETOSA
from tests.processes import Server, free_port

pytestmark = pytest.mark.slow


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` (EOF or reset), without blocking."""
    sock.setblocking(False)
    try:
        while chunk := sock.recv(4096):
            del chunk  # whatever it said first (nothing, here): EOF is what counts
        return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def test_slow_header_senders_are_disconnected(iris_bundle: Path) -> None:
    server = Server(iris_bundle, env={"DOCKYARD_HEADER_TIMEOUT": "1.5"})
    silent: list[socket.socket] = []
    trickling: list[socket.socket] = []
    try:
        server.wait_ready()
        # 200 clients: half send nothing at all, half a header line every 0.5 s (each line
        # is quick: only the headers as a whole never complete).
        for _ in range(100):
            silent.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            trickling.append(sock)
        deadline = time.monotonic() + 20
        open_silent, open_trickling = silent, trickling
        while (open_silent or open_trickling) and time.monotonic() < deadline:
            for sock in open_trickling:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.5)
            open_silent = [s for s in open_silent if not _closed(s)]
            open_trickling = [s for s in open_trickling if not _closed(s)]
        assert not open_silent, f"{len(open_silent)} of 100 silent connections still open"
        assert not open_trickling, f"{len(open_trickling)} of 100 trickling ones still open"
        # The server itself is fine, and an ordinary client is not cut off.
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
            time.sleep(2.0)  # idle on a kept-alive socket, longer than the header deadline
            assert client.get("/healthz").status_code == 200
    finally:
        for sock in silent + trickling:
            sock.close()
        server.stop()


def test_a_complete_request_is_not_cut_by_the_header_deadline(iris_bundle: Path) -> None:
    # Headers in time, then a body slower than the header deadline: the body has its own
    # (longer) deadline, so this request is answered.
    server = Server(iris_bundle, env={"DOCKYARD_HEADER_TIMEOUT": "1"})
    try:
        server.wait_ready()
        body = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/models/iris/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body[:10]
            )
            time.sleep(2.0)
            sock.sendall(body[10:])
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    finally:
        server.stop()


def test_connections_per_worker_are_bounded(iris_bundle: Path) -> None:
    server = Server(
        iris_bundle,
        env={"DOCKYARD_MAX_CONNECTIONS": "20", "DOCKYARD_HEADER_TIMEOUT": "60"},
    )
    idle: list[socket.socket] = []
    try:
        server.wait_ready()
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(25)]
        time.sleep(0.5)  # accepted by the server
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert client.get("/healthz").status_code == 503
        for sock in idle:
            sock.close()
        idle = []
        deadline = time.monotonic() + 10
        status = 0
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.2)
            status = httpx.get(f"{server.url}/healthz", timeout=5).status_code
        assert status == 200
    finally:
        for sock in idle:
            sock.close()
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_port_in_use_is_one_line_before_the_banner(iris_bundle: Path, workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dockyard",
                "serve",
                str(iris_bundle),
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "200"},
        )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(f"error: Cannot listen on 127.0.0.1:{port}"), done.stderr
    assert "/v1/models/iris/predict" not in done.stderr  # no banner first
    assert "Traceback" not in done.stderr


def test_the_port_is_bound_before_the_bundles_load(tmp_path: Path) -> None:
    # A server that would take long to load is still told at once that the port is taken;
    # here the bundle does not exist at all, and the port wins.
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dockyard",
                "serve",
                str(tmp_path / "missing"),
                "--port",
                str(port),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert "Cannot listen on" in done.stderr


def test_a_request_that_is_not_http_gets_the_security_headers(iris_bundle: Path) -> None:
    # uvicorn answers this one itself, below the app and its middleware.
    server = Server(iris_bundle)
    try:
        server.wait_ready()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        head = reply.split(b"\r\n\r\n", 1)[0].decode().lower().splitlines()
        assert head[0].startswith("http/1.1 400"), reply[:200]
        for header in (
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
            "cache-control: no-store",
        ):
            assert header in head, (header, head)
        # And the server still answers what is HTTP.
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()

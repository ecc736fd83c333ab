"""SIGTERM under load: not ready first, every accepted request answered, a prompt exit.
And a worker killed with SIGKILL is replaced while the service keeps answering."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import IRIS_SETOSA
from tests.processes import Server, worker_pids

pytestmark = pytest.mark.slow


def _load(
    url: str, stop: threading.Event, results: list[tuple[float, object]], limit: int = 20_000
) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(limit):
            if stop.is_set():
                return
            sent = time.monotonic()
            try:
                results.append(
                    (sent, client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code)
                )
            except httpx.TransportError as exc:
                results.append((sent, type(exc).__name__))
                time.sleep(0.01)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_sigterm_drains_then_exits(iris_bundle: Path) -> None:
    server = Server(
        iris_bundle, args=("--drain-seconds", "2"), env={"DOCKYARD_GRACEFUL_TIMEOUT": "10"}
    )
    stop = threading.Event()
    results: list[tuple[float, object]] = []
    threads = [threading.Thread(target=_load, args=(server.url, stop, results)) for _ in range(4)]
    try:
        server.wait_ready()
        for t in threads:
            t.start()
        _wait_for(lambda: len(results) >= 200, "the load to get going")
        term_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # Readiness flips first, while predictions are still being answered.
        with httpx.Client(base_url=server.url, timeout=2) as probe:
            deadline = time.monotonic() + 1.5
            readiness = None
            while time.monotonic() < deadline:
                readiness = probe.get("/readyz").status_code
                if readiness == 503:
                    break
                time.sleep(0.05)
            assert readiness == 503
            assert probe.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200
        server.process.wait(timeout=20)
        exited_after = time.monotonic() - term_at
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(timeout=15)
        server.stop()
    assert 2.0 <= exited_after < 12.0  # the drain, then a prompt graceful shutdown
    during_drain = [r for sent, r in results if term_at <= sent < term_at + 1.8]
    assert during_drain, "load kept running through the drain"
    assert all(r == 200 for r in during_drain), during_drain[:5]
    before = [r for sent, r in results if sent < term_at]
    assert before
    assert all(r == 200 for r in before)
    assert server.process.returncode in (0, -signal.SIGTERM)


def test_killed_worker_is_replaced(iris_bundle: Path) -> None:
    server = Server(iris_bundle, workers=2)
    try:
        server.wait_ready()
        workers = worker_pids(server.pid)
        assert len(workers) == 2
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        answered = 0
        with httpx.Client(base_url=server.url, timeout=5) as client:
            deadline = time.monotonic() + 60
            replaced = False
            while time.monotonic() < deadline:
                try:
                    if client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code == 200:
                        answered += 1
                except httpx.TransportError:
                    pass
                now = worker_pids(server.pid)
                replaced = replaced or (len(now) == 2 and victim not in now)
                # Both: a replacement quicker than the first request (which may fail on the
                # dead worker's keep-alive connection) must not end the loop unanswered.
                if replaced and answered:
                    break
                time.sleep(0.05)
            assert replaced, "the killed worker was not replaced"
            assert answered > 0, "the service stopped answering after the kill"
            # And the replacement is fully ready: every request succeeds again.
            statuses = [
                client.post("/v1/models/iris/predict", json=IRIS_SETOSA).status_code
                for _ in range(30)
            ]
            assert statuses == [200] * 30
    finally:
        assert server.stop() == 0


def test_sigterm_under_keepalive_load_resets_no_client(iris_bundle: Path) -> None:
    # The default drain, and keep-alive clients that go on sending through it (stopping a
    # little before it ends, as a load balancer that saw /readyz fail would). Every one of
    # their requests is answered, those during the drain with Connection: close, and no
    # client meets a reset or a closed socket.
    server = Server(iris_bundle, drain=None)
    term_at: list[float] = []
    errors: list[str] = []
    answers: list[tuple[float, int, str | None]] = []
    drain = 3.0  # Settings.drain_seconds' default

    def load() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(50_000):
                now = time.monotonic()
                if term_at and now > term_at[0] + drain - 0.5:
                    return
                try:
                    r = client.post("/v1/models/iris/predict", json=IRIS_SETOSA)
                except httpx.TransportError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return
                answers.append((now, r.status_code, r.headers.get("connection")))

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        server.wait_ready()
        for t in threads:
            t.start()
        # Going for half a second at least: the checks below compare answers sent well
        # before the signal with those sent during the drain.
        _wait_for(
            lambda: len(answers) >= 200 and answers[0][0] < time.monotonic() - 0.5,
            "the load to get going",
        )
        term_at.append(time.monotonic())
        server.process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=30)
        server.process.wait(timeout=30)
        exited_after = time.monotonic() - term_at[0]
    finally:
        term_at.append(0.0)
        server.stop()
    assert not errors, errors[:5]
    assert all(status == 200 for _, status, _ in answers)
    before = [c for sent, _, c in answers if sent < term_at[0] - 0.2]
    during = [c for sent, _, c in answers if sent > term_at[0] + 0.2]
    assert before
    assert during
    assert all(c != "close" for c in before)
    assert all(c == "close" for c in during), during[:5]
    assert exited_after >= drain

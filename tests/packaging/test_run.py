"""``dockyard run`` in the foreground, stopped by a signal on a real engine."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from dockyard.packaging import engine

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _line(stream: Any, *, timeout: float) -> bytes:
    """The next line of ``stream``, or b"" if none comes within ``timeout`` seconds."""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return b""
    return bytes(stream.readline())


def _exists(client: Any, name: str) -> bool:
    import docker

    try:
        client.containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


@pytest.mark.parametrize(
    ("signum", "when"),
    [(signal.SIGTERM, "serving"), (signal.SIGHUP, "serving"), (signal.SIGTERM, "starting")],
)
def test_a_signal_stops_and_removes_the_container(
    docker_client: Any, iris_image: engine.Built, signum: signal.Signals, when: str
) -> None:
    # SIGTERM: a script's `timeout` or `kill`; SIGHUP: the terminal closed.
    name = f"dockyard-test-run-{signum.name.lower()}-{when}"
    command = [sys.executable, "-m", "dockyard", "run", iris_image.tag, "-p", "0", "--name", name]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            if when == "serving":
                assert b"is ready at" in _line(process.stdout, timeout=120)
                assert docker_client.containers.get(name).status == "running"
            else:
                deadline = time.monotonic() + 60
                while not _exists(docker_client, name) and time.monotonic() < deadline:
                    time.sleep(0.02)
            assert process.poll() is None
            process.send_signal(signum)
            code = process.wait(timeout=60)
            left_running = _exists(docker_client, name)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
            if _exists(docker_client, name):
                docker_client.containers.get(name).remove(force=True)
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert not left_running, stderr
    # As Ctrl-C: once serving, stopping is the normal end (0); while starting, an abort.
    assert code == (0 if when == "serving" else 130), stderr
    assert "Traceback" not in stderr

"""Real `dockyard serve` processes on real sockets, for tests that need them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct child PIDs (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under a `dockyard serve --workers N` parent (not the
    multiprocessing resource tracker, which is a child too)."""
    workers = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
        except FileNotFoundError:
            continue
    return workers


def tcp_sockets(pid: int, port: int) -> list[tuple[str, int]]:
    """(state, inode) of the TCP sockets a process holds on local ``port`` (Linux /proc):
    state ``LISTEN`` or ``ESTABLISHED`` (others are left out)."""
    states = {"0A": "LISTEN", "01": "ESTABLISHED"}
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            inode = int(fields[9])
            if local_port == port and inode in inodes and fields[3] in states:
                found.append((states[fields[3]], inode))
    return found


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children."""
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


class Server:
    def __init__(
        self,
        *bundles: Path,
        workers: int = 1,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        drain: float | None = 0,
    ) -> None:
        """``drain``: ``--drain-seconds`` (0, so tests stop at once; None: the default)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            *map(str, bundles),
            "--port",
            str(self.port),
        ]
        command += ["--workers", str(workers), "--log-level", "warning", *args]
        if drain is not None and "--drain-seconds" not in args:
            command += ["--drain-seconds", str(drain)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise AssertionError(f"server exited with {self.process.returncode}:\n{output}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        return self.process.returncode

"""Server processes: start in their own process group, find their process tree, sample
its memory, and stop it by process id."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ")".
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    found, todo = [pid], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_bytes(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class Process:
    """One started server and everything it spawned."""

    def __init__(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.log = log
        self._out = log.open("ab")
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.peak_rss = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " / ".join(line.strip() for line in text[-lines:])

    def sample(self) -> int:
        rss = rss_bytes(descendants(self.pid))
        self.peak_rss = max(self.peak_rss, rss)
        return rss

    def start_sampling(self, every: float = 0.25) -> None:
        def loop() -> None:
            while not self._sampling.wait(every):
                self.sample()

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def stop(self, grace: float = 10.0) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join()
        tree = [(p, _start_time(p)) for p in descendants(self.pid)] if self.alive() else []
        # The group is ours (start_new_session); children that left it are signalled by id.
        for send in (self._signal_group, lambda sig: self._signal_each(tree, sig)):
            send(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            self._signal_group(signal.SIGKILL)
        self._signal_each(tree, signal.SIGKILL)
        self.popen.wait(timeout=grace)
        self._out.close()

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def _signal_each(self, tree: Sequence[tuple[int, bytes]], sig: int) -> None:
        for pid, started in tree:
            # Only the very process seen in the tree: a recycled id has another start time.
            if pid != self.pid and _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)


def _start_time(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return b""
    return stat[stat.rindex(b")") + 2 :].split()[19]

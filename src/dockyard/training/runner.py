"""Run a user's training script as ``python train.py`` would, with errors a person can act on.

``python -m dockyard.training.runner train.py`` is what ``dockyard train train.py`` runs, on
the host and in the training container alike. The script runs as ``__main__`` with its own
directory first on ``sys.path``; its output goes straight to the terminal and its exit code
is the runner's. Four failures get one line instead of a traceback (the traceback is kept
with ``DOCKYARD_TRACEBACK=1``): a module that is not installed, the network while it is off,
running out of memory, and (checked by the caller) a script that never saved a bundle.
"""

from __future__ import annotations

import errno
import os
import runpy
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from dockyard.errors import ExitCode

NETWORK_ENV = "DOCKYARD_NETWORK"
"""``off`` when the script runs without a network (the container's default)."""
MEMORY_ENV = "DOCKYARD_MEMORY"
"""The container's memory limit as the user gave it, for the message."""
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EADDRNOTAVAIL}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)  # urllib's URLError wraps the socket error
        if isinstance(reason, BaseException):
            yield reason
        current = current.__cause__ or current.__context__


def _network_error(exc: BaseException) -> bool:
    for link in _chain(exc):
        if isinstance(link, socket.gaierror):
            return True
        if isinstance(link, OSError) and link.errno in _NETWORK_ERRNOS:
            return True
    return False


def explain(exc: BaseException, script: str, *, network: bool, memory: str | None) -> str | None:
    """One line for an exception a data scientist can fix, else None (show the traceback)."""
    name = Path(script).name
    missing = next((e for e in _chain(exc) if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None and missing.name:
        package = missing.name.split(".")[0]
        return (
            f"{name} imports '{package}', which is not installed in the training environment: "
            f"add it to your requirements file and pass --requirements FILE "
            f"(or list it in pyproject.toml's dependencies)."
        )
    if any(isinstance(e, MemoryError) for e in _chain(exc)):
        limit = f" (the container's limit is {memory})" if memory else ""
        return f"{name} ran out of memory{limit}: raise it with --memory, or load less of the data."
    if not network and _network_error(exc):
        return (
            f"{name} tried to reach the network, which is off while training: put what it "
            "downloads under --data, or pass --network to allow it."
        )
    return None


def run(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m dockyard.training.runner SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = str(Path(argv[0]).resolve())
    sys.argv = [script, *argv[1:]]
    sys.path.insert(0, str(Path(script).parent))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except Exception as exc:  # the user's script: anything can come out
        line = explain(
            exc,
            script,
            network=os.environ.get(NETWORK_ENV, "on") != "off",
            memory=os.environ.get(MEMORY_ENV),
        )
        if line is None or os.environ.get("DOCKYARD_TRACEBACK") == "1":
            raise
        print(f"error: {line}", file=sys.stderr)
        return int(ExitCode.TRAINING)
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

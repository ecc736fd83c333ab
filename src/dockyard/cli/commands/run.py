"""``dockyard run``: start an image, wait until it is ready, print its URL."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import typer

from dockyard.cli.console import err, out

# What stops a foreground 'dockyard run': Ctrl-C, a script's `timeout` or `kill`, a
# terminal that closes. Each must stop and remove the container, never leave it running.
_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(
    image: str = typer.Argument(..., help="Image built by 'dockyard build'.", show_default=False),
    port: int = typer.Option(8000, "--port", "-p", help="Host port to publish (0: any free port)."),
    host: str = typer.Option(
        "127.0.0.1", help="Host interface to publish on (0.0.0.0: every interface)."
    ),
    name: str | None = typer.Option(None, help="Container name."),
    detach: bool = typer.Option(
        False, "--detach", "-d", help="Leave it running in the background."
    ),
    timeout: float = typer.Option(60.0, help="Seconds to wait for readiness."),
) -> None:
    """Run a model image (read-only root, no capabilities) and wait until it serves."""
    from dockyard.packaging import engine

    client = engine.connect()
    started = time.monotonic()
    with _signals_interrupt():
        container: Any = None
        # Set before "is ready" is printed (unless detached: the container is left to run):
        # from there an interrupt is the normal end, and the container is stopped. Before,
        # it is an abort, and the container is removed.
        # One try covers both, so no signal between them finds the container unowned.
        serving = False
        try:
            # Held while the container is created: a signal then finds it in `container`.
            with _signals_held():
                container, url = engine.run(
                    client, image, port=port or None, host_ip=host, name=name
                )
            engine.wait_ready(url, timeout=timeout, container=container)
            serving = not detach
            out.print(
                f"{image} is ready at {url} ({time.monotonic() - started:.1f} s)   docs {url}/docs"
            )
            if detach:
                out.print(
                    f"  container {container.name}; stop it with: docker stop {container.name}"
                )
                return
            err.print("Logs follow; Ctrl-C stops the container.")
            for line in container.logs(stream=True, follow=True):
                err.out(line.decode(errors="replace").rstrip(), highlight=False)
        except KeyboardInterrupt:
            if not serving:
                _remove(container)
                raise
        except BaseException:
            if not serving:
                _remove(container)
            raise
        finally:
            if serving:
                _stop(container)


def _remove(container: Any) -> None:
    if container is not None:
        container.remove(force=True)


def _stop(container: Any) -> None:
    # Signals wait until the container is gone: a second Ctrl-C must not leave it behind.
    with _signals_held():
        try:
            err.print("Stopping…")
        finally:
            container.stop(timeout=30)
            container.remove()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does (their default is to end
    the process at once, with no cleanup)."""
    previous = {signum: signal.signal(signum, _interrupt) for signum in _STOPPING[1:]}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Signals that stop 'dockyard run' wait until the block is done, then act."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def register(app: typer.Typer) -> None:
    app.command()(run)

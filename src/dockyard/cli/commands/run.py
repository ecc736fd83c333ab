"""``dockyard run``: start an image, wait until it is ready, print its URL."""

from __future__ import annotations

import time

import typer

from dockyard.cli.console import err, out


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
    container, url = engine.run(client, image, port=port or None, host_ip=host, name=name)
    try:
        engine.wait_ready(url, timeout=timeout, container=container)
    except BaseException:
        container.remove(force=True)
        raise
    out.print(f"{image} is ready at {url} ({time.monotonic() - started:.1f} s)   docs {url}/docs")
    if detach:
        out.print(f"  container {container.name}; stop it with: docker stop {container.name}")
        return
    err.print("Logs follow; Ctrl-C stops the container.")
    try:
        for line in container.logs(stream=True, follow=True):
            err.out(line.decode(errors="replace").rstrip(), highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        err.print("Stopping…")
        container.stop(timeout=30)
        container.remove()


def register(app: typer.Typer) -> None:
    app.command()(run)

"""``dockyard serve``: serve one or more bundles over HTTP."""

from __future__ import annotations

import functools
import gc
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr, ValidationError

from dockyard.cli.refusals import in_flags
from dockyard.errors import UsageError
from dockyard.monitoring.urls import redacted_url
from dockyard.settings import Settings


def settings_from_flags(**flags: Any) -> Settings:
    """CLI flags override ``DOCKYARD_*`` variables, which override defaults."""
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None and v != []})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise UsageError(
            f"Invalid setting: {problems}.", hint="Check the flag or the DOCKYARD_* variable."
        ) from None


def environment_for(settings: Settings) -> dict[str, str]:
    """Settings as ``DOCKYARD_*`` variables, for worker processes that rebuild them."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, list):
            separator = os.pathsep if name == "bundles" else ","
            text = separator.join(str(v) for v in value)
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        env[f"DOCKYARD_{name.upper()}"] = text
    return env


def serve(
    bundles: list[Path] = typer.Argument(
        ..., help="Bundle directories to serve.", show_default=False
    ),
    host: str | None = typer.Option(None, help="Interface to bind [default: 127.0.0.1]."),
    port: int | None = typer.Option(None, help="Port to bind [default: 8000]."),
    workers: int | None = typer.Option(None, help="Worker processes [default: 1]."),
    allow_version_mismatch: bool | None = typer.Option(
        None,
        "--allow-version-mismatch",
        help="Serve bundles trained with other scikit-learn/numpy versions.",
    ),
    trust: list[str] = typer.Option(
        [], "--trust", help="Extra type the model loader may construct (repeatable)."
    ),
    log_level: str | None = typer.Option(None, help="critical, error, warning, info or debug."),
    access_log: bool | None = typer.Option(
        None, "--access-log/--no-access-log", help="Log every request [default: off]."
    ),
    api_key_file: Path | None = typer.Option(
        None, help="Require the API key in this file (or set DOCKYARD_API_KEY)."
    ),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Allow browser calls from this origin (repeatable)."
    ),
    runtime: str | None = typer.Option(
        None, help="auto (ONNX where the bundle verified one), onnx or sklearn [default: auto]."
    ),
    drain_seconds: float | None = typer.Option(
        None,
        help="After SIGTERM, report not ready and keep serving this long, each answer "
        "closing its connection [default: 3].",
    ),
    prediction_log: str | None = typer.Option(
        None,
        "--prediction-log",
        metavar="URL",
        help="Record every prediction in sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB "
        "(or set DOCKYARD_PREDICTION_LOG).",
    ),
) -> None:
    """Serve bundles: JSON, CSV, Open Inference Protocol, docs, health and metrics."""
    # Start-up makes little garbage and many objects: the collector, walking them again
    # and again, cost ~25 ms. Off until the server is up (its lifespan turns it back on,
    # with everything loaded by then frozen out of its reach).
    gc.disable()
    # Worker processes, not BLAS threads, use the cores: a thread pool per worker would
    # oversubscribe them (and numpy starts OpenBLAS's on import). Set it to override.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from dockyard.server.workers import listen

    settings = settings_from_flags(
        bundles=bundles,
        host=host,
        port=port,
        workers=workers,
        allow_version_mismatch=allow_version_mismatch,
        trusted_types=trust,
        log_level=log_level,
        access_log=access_log,
        api_key_file=api_key_file,
        cors_origins=cors_origin,
        drain_seconds=drain_seconds,
        runtime=runtime,
        prediction_log=prediction_log,
    )
    auth = "on" if settings.resolved_api_key() else "off"
    # Before the bundles load (seconds, for big models) and before the banner: a port in
    # use is one line and exit 2, whatever the number of workers.
    with (
        listen(settings.host, settings.port, workers=settings.workers) as sock,
        in_flags(allow_version_mismatch=True),
    ):
        _serve(settings, sock, auth=auth)


def _serve(settings: Settings, sock: socket.socket, *, auth: str) -> None:
    import uvicorn

    from dockyard.server.app import create_app, load_predictors
    from dockyard.server.connections import protocol
    from dockyard.server.workers import run_workers

    say: Callable[[str], None]
    if sys.stderr.isatty():
        # A spinner only where someone watches: rich costs ~10 ms of start-up, and a log
        # file gets the same words from plain print.
        from dockyard.cli.console import err

        with err.status("Loading bundles…"):
            predictors = load_predictors(settings)
        say = functools.partial(err.print, markup=False)
    else:
        predictors = load_predictors(settings)
        say = functools.partial(print, file=sys.stderr, flush=True)
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    for p in predictors:
        say(f"  {p.name} {p.version}  {base}/v1/models/{p.name}/predict")
    say(f"  web {base}/   API docs {base}/docs   health {base}/readyz   metrics {base}/metrics")
    say(f"  API key {auth}; workers {settings.workers}")
    if settings.prediction_log is not None:
        first = predictors[0].name
        say(
            f"  prediction log {redacted_url(settings.prediction_log)}"
            f"   monitoring {base}/models/{first}/monitor"
        )
    if settings.exposed_without_key:
        say(f"  Warning: no API key, and {settings.host} is reachable from other machines.")
        say("  Set one with --api-key-file or DOCKYARD_API_KEY, or serve on 127.0.0.1.")
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "timeout_graceful_shutdown": settings.graceful_timeout,
        "http": protocol(settings.header_timeout),
        "limit_concurrency": settings.max_connections,
        "server_header": False,
        "ws": "none",  # no WebSocket routes: not importing a WebSocket library saves ~15 ms
    }
    if settings.workers == 1:
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, predictors=predictors), **options)
        )
        server.run(sockets=[sock])
        if not server.started:
            # uvicorn logged why (the app's start-up failed); exit as uvicorn.run would.
            raise typer.Exit(3)
        return
    # Workers are fresh processes: they rebuild the settings from the environment, and
    # prometheus-client aggregates their metrics through files in a shared directory.
    del predictors
    os.environ.update(environment_for(settings))
    metrics_dir = tempfile.mkdtemp(prefix="dockyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        run_workers(
            uvicorn.Config(
                "dockyard.server.app:app_factory",
                factory=True,
                workers=settings.workers,
                **options,
            ),
            sock,
        )
    finally:
        import shutil

        shutil.rmtree(metrics_dir, ignore_errors=True)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104


def register(app: typer.Typer) -> None:
    app.command()(serve)

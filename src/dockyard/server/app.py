"""The ASGI application: an explicit route list over the endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import logging
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.errors import DockyardError, UsageError
from dockyard.predictor import Predictor
from dockyard.predictor.golden import check_golden
from dockyard.server.endpoints import JSON_HEADERS, Endpoints, ServerState, send_json
from dockyard.server.fastpath import FastPath
from dockyard.server.lifecycle import chain_sigterm, closing_connection
from dockyard.server.metrics import Metrics, MetricsMiddleware
from dockyard.server.openapi import build_openapi
from dockyard.server.repository import ModelRepository
from dockyard.server.responses import (
    INTERNAL_ERROR,
    JSONResponse,
    client_left,
    dockyard_error,
    http_error,
    log_unhandled,
    server_error,
)
from dockyard.server.runtimes import runtime_headers, with_runtime
from dockyard.server.security import (
    APIKey,
    APIKeyMiddleware,
    BodyDeadlines,
    BodyTimeoutMiddleware,
    SecurityHeadersMiddleware,
    TrustedHosts,
    server_access,
)
from dockyard.server.v2 import V2Endpoints
from dockyard.settings import Settings
from dockyard.web import routes as web_routes

logger = logging.getLogger("dockyard.server")

_SWAGGER_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dockyard API</title>
<link rel="icon" href="/static/web/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script src="/static/docs/swagger-init.js"></script>
</body>
</html>
"""


class OneLogPerError:
    """The one place an unexpected error is logged. Starlette's error middleware answers
    it (with :func:`~dockyard.server.responses.server_error`'s 500) and then raises it
    again "so that servers can log it": uvicorn did, and every traceback was logged
    twice. It stops here, logged once; the 500 is sent here if nothing was sent yet
    (when the handler itself failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log_unhandled(scope["method"], scope["path"], exc)
            # Once the response has started, the connection is closed unfinished (uvicorn
            # says so in one line): a truncated body must not pass for a complete one.
            if not started:
                await send_json(send, 500, orjson.dumps(INTERNAL_ERROR), JSON_HEADERS)


class DockyardApp(Starlette):
    """Starlette, with single-row predictions answered in front of it (see
    :mod:`dockyard.server.fastpath`)."""

    fast_path: FastPath | None = None
    runtimes: dict[str, tuple[bytes, bytes]] = {}  # noqa: RUF012 - replaced, never mutated
    """The ``X-Dockyard-Runtime`` header of each prediction route (see server/runtimes.py)."""
    draining = False
    """Set on SIGTERM: every answer from then on closes its connection."""

    def build_middleware_stack(self) -> ASGIApp:
        # Outermost, around Starlette's own error middleware: its 500s get the headers too.
        return SecurityHeadersMiddleware(OneLogPerError(super().build_middleware_stack()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.draining and scope["type"] == "http":
            send = closing_connection(send)
        send = with_runtime(scope, send, self.runtimes)
        fast = self.fast_path
        if fast is not None:
            predictor = fast.match(scope)
            if predictor is not None:
                await fast(predictor, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def load_predictors(settings: Settings) -> list[Predictor]:
    if not settings.bundles:
        raise UsageError(
            "No bundles to serve.", hint="Pass bundle directories: dockyard serve models/iris."
        )
    predictors = [
        Predictor.from_path(
            path,
            allow_version_mismatch=settings.allow_version_mismatch,
            trusted_types=settings.trusted_types,
            runtime=settings.runtime,
        )
        for path in settings.bundles
    ]
    # Before anything listens, so /readyz never says ready for a model that answers
    # differently from the one that was trained.
    for predictor in predictors:
        check_golden(predictor)
    return predictors


def create_app(
    settings: Settings | None = None, *, predictors: Sequence[Predictor] | None = None
) -> DockyardApp:
    """Build the server for ``settings.bundles`` (or already loaded ``predictors``)."""
    settings = settings or Settings()
    repository = ModelRepository(
        predictors if predictors is not None else load_predictors(settings)
    )
    metrics = Metrics()
    for predictor in repository:
        metrics.watch_unknown_categories(predictor.name, predictor.validator.unseen.drain)
    state = ServerState()
    v1 = Endpoints(repository, settings, metrics, state)
    v2 = V2Endpoints(v1)
    openapi = build_openapi(repository, settings)
    # The key is read once: the pages and the middleware must agree on it.
    api_key = server_access(settings, settings.resolved_api_key())
    hosts = TrustedHosts(settings.trusted_hosts())
    deadlines = BodyDeadlines(settings.request_timeout)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def docs(request: Request) -> Response:
        return HTMLResponse(_SWAGGER_HTML)

    routes: list[BaseRoute] = [
        # Usually answered by the fast path; here for what it hands over (and first:
        # Starlette matches routes in order).
        Route("/v1/models/{name}/predict", v1.predict_json, methods=["POST"]),
        Route("/healthz", v1.healthz, methods=["GET"]),
        Route("/readyz", v1.readyz, methods=["GET"]),
        Route("/metrics", v1.metrics_text, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Route("/v1/models", v1.list_models, methods=["GET"]),
        Route("/v1/models/{name}", v1.model, methods=["GET"]),
        Route("/v1/models/{name}/predict", v1.predict_query, methods=["GET"]),
        Route("/v1/models/{name}/predict/csv", v1.predict_csv, methods=["POST"]),
        Route("/v2", v2.server_metadata, methods=["GET"]),
        Route("/v2/health/live", v2.live, methods=["GET"]),
        Route("/v2/health/ready", v2.ready, methods=["GET"]),
        Route("/v2/models/{name}", v2.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", v2.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", v2.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}", v2.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", v2.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", v2.infer, methods=["POST"]),
        *web_routes(repository, settings, api_key),
        Mount("/static/swagger", StaticFiles(directory=_swagger_dir()), name="swagger"),
        Mount("/static/docs", StaticFiles(directory=Path(__file__).parent / "static"), name="docs"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: DockyardApp) -> AsyncIterator[None]:
        def not_ready() -> None:
            state.ready = False
            app.draining = True

        restore = chain_sigterm(not_ready, settings.drain_seconds)
        # Everything loaded so far lives as long as the server: move it out of the
        # collector's reach, so full collections stop showing up as p99 latency. When
        # `dockyard serve` turned the collector off for start-up, no collection first (the
        # few unreachable objects are not worth ~10 ms), and it is back on from here.
        if gc.isenabled():
            gc.collect()
        gc.freeze()
        gc.enable()
        flushing = asyncio.create_task(metrics.flush_periodically())
        state.ready = True
        logger.info("serving %s", ", ".join(f"{p.name} {p.version}" for p in repository))
        try:
            yield
        finally:
            state.ready = False
            restore()
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing

    app = DockyardApp(
        routes=routes,
        middleware=_middleware(settings, metrics, repository, api_key, deadlines, hosts),
        exception_handlers={
            DockyardError: dockyard_error,
            HTTPException: http_error,
            ClientDisconnect: client_left,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.fast_path = FastPath(
        v1.predict_json,
        repository,
        metrics,
        key=api_key,
        hosts=hosts,
        cors=bool(settings.cors_origins),
        deadlines=deadlines,
    )
    app.runtimes = runtime_headers(repository)
    app.state.settings = settings
    app.state.repository = repository
    app.state.batchers = v1.batchers
    app.state.metrics = metrics
    app.state.server = state
    return app


def _middleware(
    settings: Settings,
    metrics: Metrics,
    repository: ModelRepository,
    api_key: APIKey | None,
    deadlines: BodyDeadlines,
    hosts: TrustedHosts,
) -> list[Middleware]:
    # Outermost first (security headers wrap them all, see DockyardApp): every response
    # is counted, 401s included; CORS answers preflights before authentication, as
    # browsers require.
    stack = [Middleware(MetricsMiddleware, metrics=metrics, models=repository.names)]
    if hosts.patterns != ["*"]:
        stack.append(hosts.middleware())
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-API-Key",
                    "Inference-Header-Content-Length",
                ],
            )
        )
    if api_key is not None:
        stack.append(Middleware(APIKeyMiddleware, key=api_key))
    stack.append(Middleware(BodyTimeoutMiddleware, deadlines=deadlines))
    return stack


def _swagger_dir() -> str:
    # Found without importing the package (~5 ms of start-up: its __init__ imports
    # importlib.resources machinery); a vendored Swagger UI version is a directory. Both
    # swagger-ui-bundle (4.x) and its successor swagger-ui-bundle-v2 install this package,
    # so an upgraded environment can hold both: the newest wins, compared by number.
    spec = importlib.util.find_spec("swagger_ui_bundle")
    locations = list(spec.submodule_search_locations or []) if spec else []
    found = [p for loc in locations for p in Path(loc, "vendor").glob("swagger-ui-*")]
    if not found:
        raise UsageError("swagger-ui-bundle-v2 is missing its assets.", hint="Reinstall Dockyard.")
    newest = max(found, key=_swagger_version)
    if _swagger_version(newest) < (5,):
        # Swagger UI 4 shows "Unable to render this definition" for OpenAPI 3.1.
        raise UsageError(
            f"Swagger UI {newest.name.removeprefix('swagger-ui-')} cannot show this "
            "server's OpenAPI 3.1 document.",
            hint="pip install 'swagger-ui-bundle-v2>=5.31'.",
        )
    return str(newest)


def _swagger_version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.name))


def app_factory() -> DockyardApp:
    """Entry point for ``uvicorn --factory`` worker processes: settings from the environment."""
    return create_app(Settings())

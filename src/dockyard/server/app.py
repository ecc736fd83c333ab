"""The ASGI application: an explicit route list over the endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Sequence

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from dockyard.auth.keys import server_access
from dockyard.errors import DockyardError, UsageError
from dockyard.monitoring.gauges import LiveDistributions
from dockyard.monitoring.log import PredictionLog
from dockyard.monitoring.store import Store, open_store
from dockyard.predictor import Predictor
from dockyard.predictor.events import Observer
from dockyard.predictor.golden import check_golden
from dockyard.predictor.repository import ModelRepository
from dockyard.server.dataplane import DataPlane
from dockyard.server.docs import docs_routes
from dockyard.server.fastpath import FastPath
from dockyard.server.feedback import FeedbackEndpoint, PredictionLogStore
from dockyard.server.lifecycle import chain_sigterm, closing_connection
from dockyard.server.metrics import Metrics
from dockyard.server.openapi import build_openapi
from dockyard.server.operations import Operations
from dockyard.server.responses import (
    client_left,
    dockyard_error,
    http_error,
    server_error,
)
from dockyard.server.runtimes import runtime_headers, with_runtime
from dockyard.server.security import BodyDeadlines, TrustedHosts
from dockyard.server.steps import Step, cross_cutting
from dockyard.server.v1 import V1
from dockyard.server.v2 import V2Endpoints
from dockyard.settings import Settings
from dockyard.web.pages import routes as web_routes

logger = logging.getLogger("dockyard.server")


class DockyardApp(Starlette):
    """Starlette, with single-row predictions answered in front of it (see
    :mod:`dockyard.server.fastpath`)."""

    fast_path: FastPath | None = None
    plane: DataPlane
    steps: Sequence[Step] = ()
    """The cross-cutting steps (server/steps.py), outermost first."""
    runtimes: dict[str, tuple[bytes, bytes]] = {}  # noqa: RUF012 - replaced, never mutated
    """The ``X-Dockyard-Runtime`` header of each prediction route (see server/runtimes.py)."""
    draining = False
    """Set on SIGTERM: every answer from then on closes its connection."""

    def build_middleware_stack(self) -> ASGIApp:
        # The inner steps are Starlette's user middleware; the outer ones wrap its own
        # error middleware, so that its 500s get them too.
        app = super().build_middleware_stack()
        for step in reversed([s for s in self.steps if s.outer]):
            cls, args, kwargs = step.middleware
            app = cls(app, *args, **kwargs)
        return app

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
    settings: Settings | None = None,
    *,
    predictors: Sequence[Predictor] | None = None,
    observers: Sequence[Observer] = (),
    store: PredictionLogStore | None = None,
) -> DockyardApp:
    """Build the server for ``settings.bundles`` (or already loaded ``predictors``);
    ``observers`` hear of every prediction (see :mod:`dockyard.server.dataplane`); ``store``
    is the prediction log's store, which feedback is written to and the monitoring pages
    read (without it, feedback is refused and the pages say so)."""
    settings = settings or Settings()
    repository = ModelRepository(
        predictors if predictors is not None else load_predictors(settings)
    )
    metrics = Metrics()
    for predictor in repository:
        metrics.watch_unknown_categories(predictor.name, predictor.validator.unseen.drain)
    log, own_store = prediction_log(settings, metrics, repository)
    if log is not None:
        observers = [*observers, log]
    store = store or own_store
    plane = DataPlane(repository, settings, metrics, observers)
    v1 = V1(plane, settings)
    v2 = V2Endpoints(plane, settings.max_body_bytes)
    operations = Operations(plane, metrics, log, log_required=settings.prediction_log_required)
    # The key is read once: the pages and the middleware must agree on it.
    api_key = server_access(settings, settings.resolved_api_key())
    steps = cross_cutting(
        settings,
        metrics,
        repository.names,
        api_key,
        TrustedHosts(settings.trusted_hosts()),
        BodyDeadlines(settings.request_timeout),
    )
    routes: list[BaseRoute] = [
        # Usually answered by the fast path; here for what it hands over (and first:
        # Starlette matches routes in order).
        Route("/v1/models/{name}/predict", v1.predict_json, methods=["POST"]),
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics_text, methods=["GET"]),
        *docs_routes(build_openapi(repository, settings)),
        Route("/v1/models", v1.list_models, methods=["GET"]),
        Route("/v1/models/{name}", v1.model, methods=["GET"]),
        Route("/v1/models/{name}/predict", v1.predict_query, methods=["GET"]),
        Route("/v1/models/{name}/predict/csv", v1.predict_csv, methods=["POST"]),
        Route(
            "/v1/models/{name}/feedback",
            FeedbackEndpoint(plane, settings, store).receive,
            methods=["POST"],
        ),
        Route("/v2", v2.server_metadata, methods=["GET"]),
        Route("/v2/health/live", v2.live, methods=["GET"]),
        Route("/v2/health/ready", v2.ready, methods=["GET"]),
        Route("/v2/models/{name}", v2.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", v2.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", v2.infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}", v2.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", v2.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", v2.infer, methods=["POST"]),
        *web_routes(repository, settings, api_key, store),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: DockyardApp) -> AsyncIterator[None]:
        def not_ready() -> None:
            plane.ready = False
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
        if log is not None:
            # Creates or upgrades the tables; a database that is down is retried by the
            # writer and never delays serving.
            await to_thread.run_sync(log.start)
        flushing = asyncio.create_task(metrics.flush_periodically())
        plane.ready = True
        logger.info("serving %s", ", ".join(f"{p.name} {p.version}" for p in repository))
        try:
            yield
        finally:
            plane.ready = False
            restore()
            if log is not None:
                # Every request answered is finished by now (uvicorn waits for them): what
                # they queued is written before the process exits.
                lost = await to_thread.run_sync(log.close, settings.graceful_timeout)
                if lost:
                    logger.error("prediction log: %d rows could not be written", lost)
            if own_store is not None:
                own_store.close()
            flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flushing

    app = DockyardApp(
        routes=routes,
        middleware=[s.middleware for s in steps if not s.outer],
        exception_handlers={
            DockyardError: dockyard_error,
            HTTPException: http_error,
            ClientDisconnect: client_left,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.steps = steps
    app.fast_path = FastPath(v1.predict_json, plane, steps)
    app.runtimes = runtime_headers(repository)
    app.plane = plane
    return app


def prediction_log(
    settings: Settings, metrics: Metrics, repository: ModelRepository
) -> tuple[PredictionLog | None, Store | None]:
    """The prediction log ``settings`` ask for, its metrics and drift gauges watched, and a
    store of its own for feedback and the monitoring pages (the log writes through another
    connection, from its writer process); ``(None, None)`` without a log."""
    log = PredictionLog.from_settings(settings)
    if log is None or settings.prediction_log is None:
        return None, None
    metrics.watch_log(log.counts_since_last)
    # Drift gauges are counted by the log's shipping thread, so only with a log.
    metrics.watch_drift(LiveDistributions.fed_by(log, repository).drift)
    return log, open_store(settings.prediction_log)


def app_factory() -> DockyardApp:
    """Entry point for ``uvicorn --factory`` worker processes: settings from the environment."""
    return create_app(Settings())

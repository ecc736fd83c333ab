"""The cross-cutting steps every request passes, listed once.

:func:`cross_cutting` returns them in order, outermost first. The framework's middleware
stack is built from this list (:class:`~dockyard.server.app.DockyardApp`), and so is the fast
path (:class:`~dockyard.server.fastpath.FastPath`): each :class:`Step` carries both its
middleware and what the fast path does for it (its :data:`FastRule`). A step the fast path
does not know how to apply stops the server from starting, and
``tests/server/test_steps.py`` sends the same requests through both and compares the
answers, so the two cannot drift apart.

To add a cross-cutting step: write its middleware, add a :class:`Step` here, and give it a
rule: :class:`HandOver` (the fast path leaves the requests it would act on to the
middleware) is always correct; an inline rule is for steps that must also run on the
hottest route at its speed.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.auth.keys import APIKey
from dockyard.server.metrics import Metrics, MetricsMiddleware
from dockyard.server.responses import INTERNAL_BODY, JSON_HEADERS, log_unhandled, send_json
from dockyard.server.security import (
    COMMON_HEADERS,
    NO_STORE,
    APIKeyMiddleware,
    BodyDeadlines,
    BodyTimeoutMiddleware,
    SecurityHeadersMiddleware,
    TrustedHosts,
)
from dockyard.settings import Settings

# -- request ids ---------------------------------------------------------------------------

REQUEST_ID = b"x-request-id"
SCOPE_KEY = "dockyard.request_id"
"""Where the request id is kept in the ASGI scope for the routes."""
# What a caller's own id may look like: printable, no spaces, short. Anything else is
# replaced by one of ours rather than refused (the id is for tracing, not an input).
_CALLER_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")


class RequestIds:
    """Ids unique across processes and restarts: a random prefix per process and a
    counter (a few hundred nanoseconds; a UUID costs several times that)."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(8).hex() + "-"
        self._counter = itertools.count(1)

    def of(self, scope: Scope) -> str:
        """The caller's ``X-Request-ID`` when it sent a plain one, else a new id."""
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                if _CALLER_ID.fullmatch(value):
                    return bytes(value).decode("ascii")
                break
        # Fixed width: one process's ids sort in the order they were given, so the
        # prediction log's request-id index grows at its end instead of anywhere.
        return f"{self._prefix}{next(self._counter):012x}"


class RequestIdMiddleware:
    """Gives every request an id (the caller's, or a new one), keeps it in the scope for
    the routes and the prediction log, and returns it as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp, ids: RequestIds) -> None:
        self.app = app
        self.ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = scope[SCOPE_KEY] = self.ids.of(scope)
        header = (REQUEST_ID, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def request_id(scope: Scope) -> str:
    """The id :class:`RequestIdMiddleware` gave this request."""
    value: str = scope[SCOPE_KEY]
    return value


# -- errors --------------------------------------------------------------------------------


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
                await send_json(send, 500, INTERNAL_BODY, JSON_HEADERS)


# -- the steps -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddHeaders:
    """The fast path adds these headers to its answers."""

    headers: Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class TagRequests:
    """The fast path gives each request an id from ``ids`` and returns it."""

    ids: RequestIds


@dataclass(frozen=True, slots=True)
class RenderErrors:
    """The fast path answers errors as the framework does (``render_error``; a 500 logged
    once, with no internals)."""


@dataclass(frozen=True, slots=True)
class CountRequests:
    """The fast path counts its requests in ``metrics``."""

    metrics: Metrics


@dataclass(frozen=True, slots=True)
class HandOver:
    """The fast path takes a request only when ``admits`` says so; the rest go to the
    middleware, which answers them."""

    admits: Callable[[Scope], bool]


@dataclass(frozen=True, slots=True)
class BoundBodies:
    """The fast path reads bodies under these deadlines."""

    deadlines: BodyDeadlines


FastRule: TypeAlias = (
    AddHeaders | TagRequests | RenderErrors | CountRequests | HandOver | BoundBodies
)


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    middleware: Middleware
    fast: tuple[FastRule, ...]
    """What the fast path does for this step (one or more rules)."""
    outer: bool = False
    """Wraps Starlette's own error middleware (so its 500s get the step too)."""


def cross_cutting(
    settings: Settings,
    metrics: Metrics,
    models: frozenset[str],
    key: APIKey | None,
    hosts: TrustedHosts,
    deadlines: BodyDeadlines,
) -> list[Step]:
    """The steps this configuration needs, outermost first. Every response is counted,
    401s included; CORS answers preflights before authentication, as browsers require."""
    ids = RequestIds()
    steps = [
        Step(
            "security headers",
            Middleware(SecurityHeadersMiddleware),
            (AddHeaders([*COMMON_HEADERS, NO_STORE]),),
            outer=True,
        ),
        Step(
            "request id", Middleware(RequestIdMiddleware, ids=ids), (TagRequests(ids),), outer=True
        ),
        Step("errors", Middleware(OneLogPerError), (RenderErrors(),), outer=True),
        Step(
            "metrics",
            Middleware(MetricsMiddleware, metrics=metrics, models=models),
            (CountRequests(metrics),),
        ),
    ]
    if hosts.patterns != ["*"]:
        steps.append(Step("trusted host", hosts.middleware(), (HandOver(hosts.admits),)))
    if settings.cors_origins:
        cors = Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-Request-ID",
                "Inference-Header-Content-Length",
            ],
            expose_headers=["X-Request-ID", "X-Dockyard-Runtime"],
        )
        # Starlette's CORS middleware marks every answer as varying by Origin.
        steps.append(Step("cors", cors, (HandOver(_no_origin), AddHeaders([(b"vary", b"Origin")]))))
    if key is not None:
        steps.append(
            Step("api key", Middleware(APIKeyMiddleware, key=key), (HandOver(key.authorized),))
        )
    steps.append(
        Step(
            "body deadline",
            Middleware(BodyTimeoutMiddleware, deadlines=deadlines),
            (BoundBodies(deadlines),),
        )
    )
    return steps


def _no_origin(scope: Scope) -> bool:
    return not any(name == b"origin" for name, _ in scope["headers"])


__all__ = [
    "REQUEST_ID",
    "AddHeaders",
    "BoundBodies",
    "CountRequests",
    "FastRule",
    "HandOver",
    "OneLogPerError",
    "RenderErrors",
    "RequestIdMiddleware",
    "RequestIds",
    "Step",
    "TagRequests",
    "cross_cutting",
    "request_id",
]

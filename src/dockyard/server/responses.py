"""JSON responses via orjson, and the one place errors are rendered: every error answer,
from a route, a middleware or the fast path, is ``render_error``'s body."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dockyard.errors import DockyardError

logger = logging.getLogger("dockyard.server")

INTERNAL_ERROR = {"error": "Internal server error; see the server log.", "code": "internal"}
INTERNAL_BODY = orjson.dumps(INTERNAL_ERROR)
JSON_HEADERS = [(b"content-type", b"application/json")]


def render_error(exc: DockyardError) -> bytes:
    """The body of every error answer: ``{"error", "code", "hint"?, "details"?}``."""
    return orjson.dumps(exc.as_dict())


async def send_json(
    send: Send, status: int, content: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """One complete response: ``headers`` plus its Content-Length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", str(len(content)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": content})


async def send_error(
    send: Send, error: DockyardError, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An error answered by an ASGI middleware, before any route."""
    await send_json(send, error.status_code, render_error(error), [*JSON_HEADERS, *(headers or [])])


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    return Response(render_error(exc), exc.status_code, media_type="application/json")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"No route for {request.method} {request.url.path[:200]}. See /docs for the API."
    return JSONResponse(
        {"error": detail, "code": codes.get(exc.status_code, "http_error")},
        status_code=exc.status_code,
        headers=exc.headers,
    )


class _NoAnswer(Response):
    """Sends nothing: there is nobody to answer. The metrics count it as a 499."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def client_left(request: Request, exc: Exception) -> Response:
    # The client closed the connection before its body arrived: not a server error, so
    # neither a 500 nor a traceback in the log.
    return _NoAnswer()


def log_unhandled(method: str, path: str, exc: BaseException) -> None:
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)


async def server_error(request: Request, exc: Exception) -> Response:
    # Not logged here: Starlette raises ``exc`` again after this answer, and the app's
    # outermost layer (OneLogPerError) logs it, once.
    return JSONResponse(INTERNAL_ERROR, 500)

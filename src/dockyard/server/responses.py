"""JSON responses via orjson, and the one error shape."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import DockyardError

logger = logging.getLogger("dockyard.server")

INTERNAL_ERROR = {"error": "Internal server error; see the server log.", "code": "internal"}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def dockyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DockyardError)
    return JSONResponse(exc.as_dict(), status_code=exc.status_code)


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


def log_unhandled(method: str, path: str, exc: BaseException) -> None:
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)


async def server_error(request: Request, exc: Exception) -> Response:
    # Not logged here: Starlette raises ``exc`` again after this answer, and the app's
    # outermost layer (OneLogPerError) logs it, once.
    return JSONResponse(INTERNAL_ERROR, 500)

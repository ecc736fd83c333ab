"""JSON predictions in front of the framework.

``POST /v1/models/{name}/predict`` (single rows, mostly) is most of a busy server's traffic, and at a few
thousand requests a second per core the framework's layers (routing, five middleware,
exception handling) cost several times the prediction. :class:`FastPath` answers that
route before Starlette sees it and does what those layers do, inline: the API key, the
body deadline, security headers, error responses and metrics. Anything it does not
handle the same way goes to the framework unchanged: a Host name it does not plainly
trust (the 400 is the middleware's), a missing or wrong API key (the 401, the 429, or
the sign-in redirect, is the middleware's), a cross-origin request when CORS is
configured, an app mounted under a root path, an unknown model.
"""

from __future__ import annotations

import time

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from dockyard.errors import DockyardError
from dockyard.predictor import Predictor
from dockyard.server.endpoints import JSON_HEADERS, PredictEndpoint, send_json
from dockyard.server.metrics import CLIENT_CLOSED, Metrics
from dockyard.server.repository import ModelRepository
from dockyard.server.responses import INTERNAL_ERROR, log_unhandled
from dockyard.server.security import (
    COMMON_HEADERS,
    NO_STORE,
    APIKey,
    BodyDeadlines,
    TrustedHosts,
)

ROUTE = "/v1/models/{name}/predict"
_PREFIX = "/v1/models/"
_SUFFIX = "/predict"
_HEADERS = [*JSON_HEADERS, *COMMON_HEADERS, NO_STORE]
_INTERNAL = orjson.dumps(INTERNAL_ERROR)


class FastPath:
    def __init__(
        self,
        endpoint: PredictEndpoint,
        repository: ModelRepository,
        metrics: Metrics,
        *,
        key: APIKey | None,
        hosts: TrustedHosts,
        cors: bool,
        deadlines: BodyDeadlines,
    ) -> None:
        self._endpoint = endpoint
        self._find = repository.find
        self._metrics = metrics
        self._key = key
        self._hosts = hosts
        self._cors = cors
        self._deadlines = deadlines

    def match(self, scope: Scope) -> Predictor | None:
        """The model this request predicts with, if the fast path serves it."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
            return None
        predictor = self._find(path[len(_PREFIX) : -len(_SUFFIX)])
        if predictor is None:
            return None
        if not self._hosts.admits(scope) or (
            self._cors and any(name == b"origin" for name, _ in scope["headers"])
        ):
            return None
        if self._key is not None and not self._key.authorized(scope):
            return None
        return predictor

    async def __call__(
        self, predictor: Predictor, scope: Scope, receive: Receive, send: Send
    ) -> None:
        start = time.perf_counter()
        try:
            content = await self._endpoint.answer(predictor, scope, receive, self._deadlines)
            status = 200
        except DockyardError as exc:
            status, content = exc.status_code, orjson.dumps(exc.as_dict())
        except ClientDisconnect:
            self._count(predictor, CLIENT_CLOSED, start)
            return
        except Exception as exc:
            log_unhandled("POST", scope["path"], exc)
            status, content = 500, _INTERNAL
        try:
            await send_json(send, status, content, _HEADERS)
        finally:
            self._count(predictor, status, start)

    def _count(self, predictor: Predictor, status: int, start: float) -> None:
        self._metrics.count_request(
            predictor.name, ROUTE, "POST", status, time.perf_counter() - start
        )

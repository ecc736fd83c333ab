"""JSON predictions in front of the framework.

``POST /v1/models/{name}/predict`` (single rows, mostly) is most of a busy server's
traffic, and at a few thousand requests a second per core the framework's layers
(routing, the middleware, exception handling) cost several times the prediction.
:class:`FastPath` answers that route before Starlette sees it, applying each
cross-cutting step inline as its :class:`~dockyard.server.steps.Step` says: the same list
the middleware stack is built from. What a step's rule leaves to the middleware goes to
the framework unchanged: a Host name it does not plainly trust, a missing or wrong API
key, a cross-origin request when CORS is configured; so do an app mounted under a root
path and an unknown model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from dockyard.errors import DockyardError
from dockyard.predictor import Predictor
from dockyard.server.dataplane import DataPlane
from dockyard.server.metrics import CLIENT_CLOSED, Metrics
from dockyard.server.responses import (
    INTERNAL_BODY,
    JSON_HEADERS,
    log_unhandled,
    render_error,
    send_json,
)
from dockyard.server.security import BodyDeadlines
from dockyard.server.steps import (
    REQUEST_ID,
    AddHeaders,
    BoundBodies,
    CountRequests,
    HandOver,
    RenderErrors,
    RequestIds,
    Step,
    TagRequests,
)
from dockyard.server.v1 import PredictEndpoint

ROUTE = "/v1/models/{name}/predict"
_PREFIX = "/v1/models/"
_SUFFIX = "/predict"


class FastPath:
    def __init__(self, endpoint: PredictEndpoint, plane: DataPlane, steps: Sequence[Step]) -> None:
        self._endpoint = endpoint
        self._find = plane.find
        headers = list(JSON_HEADERS)
        admits: list[Callable[[Scope], bool]] = []
        ids: RequestIds | None = None
        metrics: Metrics | None = None
        deadlines: BodyDeadlines | None = None
        renders = False
        for name, rule in ((s.name, r) for s in steps for r in s.fast):
            if isinstance(rule, AddHeaders):
                headers.extend(rule.headers)
            elif isinstance(rule, TagRequests):
                ids = rule.ids
            elif isinstance(rule, RenderErrors):
                renders = True
            elif isinstance(rule, CountRequests):
                metrics = rule.metrics
            elif isinstance(rule, HandOver):
                admits.append(rule.admits)
            elif isinstance(rule, BoundBodies):
                deadlines = rule.deadlines
            else:  # pragma: no cover - a new kind of rule must be taught here first
                raise TypeError(f"The fast path cannot apply the step {name!r}.")
        if ids is None or metrics is None or deadlines is None or not renders:
            # Without these the fast path would answer differently from the framework.
            raise ValueError("The fast path needs the request id, metrics, errors and body steps.")
        self._headers = headers
        self._admits = tuple(admits)
        self._ids = ids
        self._metrics = metrics
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
        for admits in self._admits:
            if not admits(scope):
                return None
        return predictor

    async def __call__(
        self, predictor: Predictor, scope: Scope, receive: Receive, send: Send
    ) -> None:
        start = time.perf_counter()
        request_id = self._ids.of(scope)
        try:
            content = await self._endpoint.answer(
                predictor, scope, receive, request_id, self._deadlines
            )
            status = 200
        except DockyardError as exc:
            status, content = exc.status_code, render_error(exc)
        except ClientDisconnect:
            self._count(predictor, CLIENT_CLOSED, start)
            return
        except Exception as exc:
            log_unhandled("POST", scope["path"], exc)
            status, content = 500, INTERNAL_BODY
        try:
            await send_json(
                send, status, content, [*self._headers, (REQUEST_ID, request_id.encode("ascii"))]
            )
        finally:
            self._count(predictor, status, start)

    def _count(self, predictor: Predictor, status: int, start: float) -> None:
        self._metrics.count_request(
            predictor.name, ROUTE, "POST", status, time.perf_counter() - start
        )

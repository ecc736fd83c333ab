"""Which runtime answered: an ``X-Dockyard-Runtime`` header on every answer of a model's
prediction routes (JSON, query string, CSV, Open Inference Protocol), fast path included."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Message, Scope, Send

from dockyard.predictor import Predictor

HEADER = b"x-dockyard-runtime"


def runtime_headers(predictors: Iterable[Predictor]) -> dict[str, tuple[bytes, bytes]]:
    """The header to add, by exact request path: one dictionary lookup a request."""
    out: dict[str, tuple[bytes, bytes]] = {}
    for p in predictors:
        header = (HEADER, p.runtime.encode("ascii"))
        for path in (
            f"/v1/models/{p.name}/predict",
            f"/v1/models/{p.name}/predict/csv",
            f"/v2/models/{p.name}/infer",
            f"/v2/models/{p.name}/versions/{p.version}/infer",
        ):
            out[path] = header
    return out


def with_runtime(scope: Scope, send: Send, headers: dict[str, tuple[bytes, bytes]]) -> Send:
    """``send``, adding the runtime header when ``scope`` is a prediction route."""
    header = headers.get(scope.get("path", ""))
    if header is None:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), header]}
        await send(message)

    return sending

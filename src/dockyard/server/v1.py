"""The v1 REST API, a thin adapter over the data plane: JSON records, the query string
and CSV uploads are decoded here, predicted by :class:`~dockyard.server.dataplane.DataPlane`
and encoded back. HTTP work only: parsing, limits and status codes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.errors import FieldError, InvalidInput, PayloadTooLarge
from dockyard.predictor import Predictor
from dockyard.predictor.validation import MAX_ERRORS
from dockyard.server.bodies import (
    check_declared_length,
    check_json_type,
    decode_json,
    parse_media_type,
    spool_csv,
)
from dockyard.server.dataplane import Call, DataPlane, HeldAnswer
from dockyard.server.responses import JSON_HEADERS, JSONResponse, send_json
from dockyard.server.security import BodyDeadlines
from dockyard.server.steps import request_id
from dockyard.settings import Settings

# Query parameters accepted beyond one per feature, so that a few wrong or repeated names
# are still reported one by one; past that the query is refused unparsed.
EXTRA_PARAMETERS = 8
# A scored CSV up to this size is answered in one piece; a larger one streams.
WHOLE_CSV_BYTES = 4 * 1024 * 1024
ENTRY_HEADER = b"x-dockyard-entry"
"""Sent by the web form's script (``form``), so its predictions are logged as the form's."""


def call_of(scope: Scope, entry: str) -> Call:
    return Call(request_id(scope), entry, time.time(), time.perf_counter())


class V1:
    def __init__(self, plane: DataPlane, settings: Settings) -> None:
        self.plane = plane
        self.max_upload_bytes = settings.max_upload_bytes
        self.versions_shown = settings.versions_shown
        self.predict_json = PredictEndpoint(plane, settings.max_body_bytes)

    # -- discovery -------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"models": [summary(p) for p in self.plane.repository]})

    async def model(self, request: Request) -> Response:
        return JSONResponse(
            detail(self.plane.model(request.path_params["name"]), self.versions_shown)
        )

    # -- prediction ------------------------------------------------------------------------

    async def predict_query(self, request: Request) -> Response:
        predictor = self.plane.model(request.path_params["name"])
        record = query_record(request.scope["query_string"], len(predictor.feature_names))
        call = call_of(request.scope, "query")
        prediction = await self.plane.predict_text(predictor, record, call)
        return JSONResponse(predictor.response(prediction))

    async def predict_csv(self, request: Request) -> Response:
        predictor = self.plane.model(request.path_params["name"])
        # With the first CSV, as the rest of dockyard.batch: off the server's start-up.
        from dockyard.batch.runtime_column import QUERY_PARAMETER, requested

        runtime_column = requested(request.query_params.get(QUERY_PARAMETER))
        call = call_of(request.scope, "csv")
        source = await spool_csv(request, self.max_upload_bytes)
        try:
            answer = await to_thread.run_sync(
                self.plane.score_csv, predictor, source, runtime_column, call
            )
        except BaseException:
            source.close()
            raise
        filename = f"{predictor.name}-predictions.csv"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if answer.blocks is not None and answer.size <= WHOLE_CSV_BYTES:
            body = b"".join(answer.blocks)
            answer.release()
            source.close()
            return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
        if answer.blocks is not None:  # held: sent block by block, then released
            source.close()
            return StreamingResponse(
                _releasing(answer), media_type="text/csv; charset=utf-8", headers=headers
            )
        source.seek(0)
        return StreamingResponse(
            self._rescored(predictor, source, runtime_column),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )

    def _rescored(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> Iterator[bytes]:
        """Starlette runs each step in a worker thread; ``source`` is closed at the end."""
        try:
            yield from self.plane.rescore_csv(predictor, source, runtime_column)
        finally:
            source.close()


def _releasing(answer: HeldAnswer) -> Iterator[bytes]:
    """The held answer's blocks; its memory goes back to the budget when they are sent, or
    when the client left first (the generator is closed)."""
    try:
        yield from answer.blocks or ()
    finally:
        answer.release()


def summary(predictor: Predictor) -> dict[str, Any]:
    meta = predictor.metadata
    metric, value = meta.headline_metric()
    return {
        "name": meta.name,
        "version": meta.version,
        "task": meta.task,
        "description": meta.description,
        "estimator": meta.model.estimator,
        "features": len(meta.features),
        "metric": {"name": metric, "value": value},
        "links": {
            "self": f"/v1/models/{meta.name}",
            "predict": f"/v1/models/{meta.name}/predict",
            "csv": f"/v1/models/{meta.name}/predict/csv",
        },
    }


def detail(predictor: Predictor, versions_shown: bool) -> dict[str, Any]:
    meta = predictor.metadata.model_dump(mode="json", exclude={"files"})
    if not versions_shown:
        meta.pop("environment", None)
    return {**summary(predictor), "bundle_sha256": predictor.digest, "metadata": meta}


def records_of(payload: Any, predictor: Predictor) -> list[Any]:
    """A v1 JSON body as records: one object, an array of them, or ``{"instances": [...]}``."""
    if isinstance(payload, dict):
        if "instances" in payload and "instances" not in predictor.feature_names:
            if len(payload) > 1:
                extra = [k for k in payload if k != "instances"][:MAX_ERRORS]
                raise InvalidInput(
                    [FieldError(k[:100], "unknown key beside 'instances'") for k in extra]
                )
            records = payload["instances"]
            if not isinstance(records, list):
                raise InvalidInput([FieldError("instances", "expected an array of records")])
            return records
        return [payload]
    if isinstance(payload, list):
        return payload
    raise InvalidInput(
        [FieldError(None, 'expected a record object, an array of records or {"instances": [...]}')]
    )


class PredictEndpoint:
    """``POST /v1/models/{name}/predict``: the hot path, as a bare ASGI endpoint.

    :meth:`answer` is the work (headers, body, decoding, the data plane, JSON); it is
    shared by this route, which runs inside the framework's middleware, and by
    :class:`~dockyard.server.fastpath.FastPath`, which runs it in front of the framework.
    It skips the per-request Request object, the body stream generators and the Response
    class, which cost more than validating and predicting a row. Behaviour (limits,
    status codes, messages) is that of the other endpoints.
    """

    def __init__(self, plane: DataPlane, limit: int) -> None:
        self._plane = plane
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        predictor = self._plane.model(scope["path_params"]["name"])
        try:
            content = await self.answer(predictor, scope, receive, request_id(scope))
        except ClientDisconnect:
            return  # nobody to answer; counted as 499, as the fast path does
        await send_json(send, 200, content, JSON_HEADERS)

    async def answer(
        self,
        predictor: Predictor,
        scope: Scope,
        receive: Receive,
        request_id: str,
        deadlines: BodyDeadlines | None = None,
    ) -> bytes:
        """The response body for a request to ``predictor``; errors raise. ``deadlines``
        bounds the wait for the body (past it, a 408) where no middleware does."""
        call = Call(request_id, "json", time.time(), time.perf_counter())
        content_type: bytes | None = None
        declared: bytes | None = None
        for key, value in scope["headers"]:
            # The first of repeated headers counts, as with Request.headers.get().
            if key == b"content-type" and content_type is None:
                content_type = value
            elif key == b"content-length" and declared is None:
                declared = value
            elif key == ENTRY_HEADER and value == b"form":
                call.entry = "form"
        if content_type != b"application/json":
            # Header bytes are latin-1, as Starlette decodes them for the other routes.
            kind = parse_media_type((content_type or b"").decode("latin-1"))
            check_json_type(kind, model=predictor.name)
        limit = self._limit
        check_declared_length(declared.decode("latin-1") if declared is not None else None, limit)
        if deadlines is None:
            body = await _read_body(receive, limit)
        else:
            body = await deadlines.read(_read_body(receive, limit), deadlines.deadline())
        records = records_of(decode_json(body), predictor)
        prediction = await self._plane.predict_records(predictor, records, call)
        return orjson.dumps(predictor.response(prediction))


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnect()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def query_record(query_string: bytes, features: int) -> dict[str, str]:
    """A query string as one record. More than ``features`` plus
    :data:`EXTRA_PARAMETERS` parameters are refused before parsing, and repeated names
    are found in one pass: the work is bounded by the model, not by the caller."""
    # parse_qsl splits on '&' alone, so this counts the parameters (or a few more: empty
    # ones, which it skips).
    given = query_string.count(b"&") + 1 if query_string else 0
    if given > features + EXTRA_PARAMETERS:
        raise InvalidInput(
            [
                FieldError(
                    None,
                    f"{given} query parameters; this model takes {features} (one per feature)",
                )
            ]
        )
    record: dict[str, str] = {}
    repeated: dict[str, None] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in record:
            repeated[name] = None
        record[name] = value
    if repeated:
        raise InvalidInput([FieldError(k[:100], "given more than once") for k in repeated])
    return record


__all__ = ["V1", "PredictEndpoint", "call_of", "detail", "query_record", "records_of", "summary"]

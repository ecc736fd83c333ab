"""HTTP endpoints for the v1 REST API, health and metrics. HTTP work only: parsing,
limits and status codes here; validation and prediction in the predictor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import parse_qsl

import orjson
from anyio import to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from dockyard.errors import (
    FieldError,
    InvalidInput,
    NotReady,
    PayloadTooLarge,
)
from dockyard.predictor import Prediction, Predictor
from dockyard.predictor.validation import MAX_ERRORS
from dockyard.server.batching import Batcher
from dockyard.server.bodies import (
    check_declared_length,
    check_json_type,
    decode_json,
    parse_media_type,
    spool_csv,
)
from dockyard.server.metrics import CONTENT_TYPE, Metrics
from dockyard.server.repository import ModelRepository
from dockyard.server.responses import JSONResponse
from dockyard.server.security import BodyDeadlines
from dockyard.settings import Settings

# Requests up to this many rows are predicted on the event loop (batched together): a
# thread hop would cost more than the prediction. Larger ones go to a worker thread so
# the loop stays responsive.
INLINE_ROWS = 32
# Query parameters accepted beyond one per feature, so that a few wrong or repeated names
# are still reported one by one; past that the query is refused unparsed.
EXTRA_PARAMETERS = 8
# A scored CSV up to this size is answered in one piece; a larger one streams.
_WHOLE_OUT = 4 * 1024 * 1024


@dataclass(slots=True)
class ServerState:
    ready: bool = False


class Endpoints:
    def __init__(
        self, repository: ModelRepository, settings: Settings, metrics: Metrics, state: ServerState
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.metrics = metrics
        self.state = state
        self.predict_json = PredictEndpoint(self)
        self.batchers = (
            {p.name: Batcher(p, settings.batch_rows) for p in repository}
            if settings.batch_rows > 1
            else {}
        )

    # -- discovery -------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"models": [self.repository.summary(p) for p in self.repository]})

    async def model(self, request: Request) -> Response:
        predictor = self.repository.get(request.path_params["name"])
        detail = self.repository.detail(predictor)
        if not self.settings.versions_shown:
            detail["metadata"].pop("environment", None)
        return JSONResponse(detail)

    # -- prediction ------------------------------------------------------------------------

    async def predict_query(self, request: Request) -> Response:
        predictor = self.repository.get(request.path_params["name"])
        columns = predictor.validator.text_record(
            _query_record(request.scope["query_string"], len(predictor.feature_names))
        )
        prediction = await self.predict(predictor, columns, 1)
        return self._answer(predictor, prediction)

    async def predict_csv(self, request: Request) -> Response:
        predictor = self.repository.get(request.path_params["name"])
        # With the first CSV, as the rest of dockyard.batch: off the server's start-up.
        from dockyard.batch.runtime_column import QUERY_PARAMETER, requested

        runtime_column = requested(request.query_params.get(QUERY_PARAMETER))
        source = await spool_csv(request, self.settings.max_upload_bytes)
        try:
            whole = await to_thread.run_sync(self._check_csv, predictor, source, runtime_column)
        except BaseException:
            source.close()
            raise
        filename = f"{predictor.name}-predictions.csv"
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if whole is not None:
            source.close()
            return Response(whole, media_type="text/csv; charset=utf-8", headers=headers)
        source.seek(0)
        return StreamingResponse(
            self._stream_csv(predictor, source, runtime_column),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )

    def _check_csv(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> bytes | None:
        """Score every row of ``source``, so that any error is raised before an answer is
        sent: a bad line late in a file still gets a clean 422 naming it. Returns the
        scored CSV when it is at most ``_WHOLE_OUT`` bytes; a larger one is scored again
        as it is sent (:meth:`_stream_csv`), never written to disk."""
        blocks: list[bytes] | None = []
        size = 0
        for block, _, prediction in self._scored(predictor, source, runtime_column):
            if prediction is not None:
                self._count(predictor, prediction)
            size += len(block)
            if blocks is not None and size <= _WHOLE_OUT:
                blocks.append(block)
            else:
                blocks = None  # too large to hold: dropped, and scored again when sent
        return b"".join(blocks) if blocks is not None else None

    def _stream_csv(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> Iterator[bytes]:
        """The scored CSV of a checked ``source``, chunk by chunk (Starlette runs each
        step in a worker thread); ``source`` is closed at the end."""
        try:
            for block, _, _ in self._scored(predictor, source, runtime_column):
                yield block
        finally:
            source.close()

    def _scored(
        self, predictor: Predictor, source: IO[bytes], runtime_column: bool
    ) -> Iterator[tuple[bytes, int, Prediction | None]]:
        from dockyard.batch.csv import iter_scored  # with the first CSV: ~15 ms off start-up
        from dockyard.batch.runtime_column import runtime_blocks

        blocks = iter_scored(
            predictor,
            source,
            chunk_rows=self.settings.csv_chunk_rows,
            escape_formulas=self.settings.csv_escape_formulas,
        )
        return runtime_blocks(blocks, predictor.runtime) if runtime_column else blocks

    def _records(self, payload: Any, predictor: Predictor) -> list[Any]:
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
            else:
                records = [payload]
        elif isinstance(payload, list):
            records = payload
        else:
            raise InvalidInput(
                [
                    FieldError(
                        None,
                        'expected a record object, an array of records or {"instances": [...]}',
                    )
                ]
            )
        if not records:
            raise InvalidInput([FieldError(None, "no records to predict")])
        if len(records) > self.settings.max_batch_rows:
            raise PayloadTooLarge(
                f"{len(records)} records in one request; the limit is {self.settings.max_batch_rows}.",
                hint="Split the batch, or use CSV scoring for large files.",
            )
        return records

    async def predict(
        self, predictor: Predictor, columns: list[list[Any]], rows: int
    ) -> Prediction:
        """Validated columns → prediction: small requests through the adaptive batcher
        on the event loop, large ones in a worker thread."""
        if rows > INLINE_ROWS:
            return await to_thread.run_sync(predictor.predict_columns, columns)
        batcher = self.batchers.get(predictor.name)
        if batcher is None:
            return predictor.predict_columns(columns)
        return await batcher.predict(columns, rows)

    def _count(self, predictor: Predictor, prediction: Prediction) -> None:
        self.metrics.count_predictions(
            predictor.name, prediction.outputs, predictor.task != "regression"
        )

    def _answer(self, predictor: Predictor, prediction: Prediction) -> Response:
        self._count(predictor, prediction)
        return JSONResponse(predictor.response(prediction))

    # -- operations ------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not self.state.ready:
            raise NotReady("Not ready: models are loading or the server is shutting down.")
        return JSONResponse({"status": "ready", "models": sorted(self.repository.names)})

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)


class PredictEndpoint:
    """``POST /v1/models/{name}/predict``: the hot path, as a bare ASGI endpoint.

    :meth:`answer` is the work (headers, body, validation, prediction, JSON); it is shared
    by this route, which runs inside the framework's middleware, and by
    :class:`~dockyard.server.fastpath.FastPath`, which runs it in front of the framework.
    It skips the per-request Request object, the body stream generators and the Response
    class, which cost more than validating and predicting a row. Behaviour (limits,
    status codes, messages) is that of the other endpoints.
    """

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints
        self._repository = endpoints.repository
        self._limit = endpoints.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        predictor = self._repository.get(scope["path_params"]["name"])
        try:
            content = await self.answer(predictor, scope, receive)
        except ClientDisconnect:
            return  # nobody to answer; counted as 499, as the fast path does
        await send_json(send, 200, content, JSON_HEADERS)

    async def answer(
        self,
        predictor: Predictor,
        scope: Scope,
        receive: Receive,
        deadlines: BodyDeadlines | None = None,
    ) -> bytes:
        """The response body for a request to ``predictor``; errors raise. ``deadlines``
        bounds the wait for the body (past it, a 408) where no middleware does."""
        content_type: bytes | None = None
        declared: bytes | None = None
        for key, value in scope["headers"]:
            # The first of repeated headers counts, as with Request.headers.get().
            if key == b"content-type" and content_type is None:
                content_type = value
            elif key == b"content-length" and declared is None:
                declared = value
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
        endpoints = self._endpoints
        records = endpoints._records(decode_json(body), predictor)
        columns = predictor.validator.records(records)
        prediction = await endpoints.predict(predictor, columns, len(records))
        endpoints._count(predictor, prediction)
        return orjson.dumps(predictor.response(prediction))


JSON_HEADERS = [(b"content-type", b"application/json")]


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


def _query_record(query_string: bytes, features: int) -> dict[str, str]:
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


__all__ = ["JSON_HEADERS", "Endpoints", "PredictEndpoint", "ServerState", "send_json"]

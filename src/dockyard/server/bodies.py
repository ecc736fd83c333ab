"""Reading request bodies: size limits, content types and JSON decoding."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncGenerator
from typing import IO, Any

import orjson
from starlette.requests import Request

from dockyard.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

SPOOL_BYTES = 4 * 1024 * 1024


def parse_media_type(content_type: str) -> str:
    """``Text/CSV; charset=utf-8`` -> ``text/csv``."""
    return content_type.split(";", 1)[0].strip().lower()


def media_type(request: Request) -> str:
    return parse_media_type(request.headers.get("content-type", ""))


def check_declared_length(declared: str | None, limit: int) -> None:
    """413 from the Content-Length header alone, before any of the body is read."""
    # isascii(): isdigit() alone accepts '²', which int() refuses; int() also refuses
    # more than 4,300 digits, and anything past 18 is over every limit anyway.
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise PayloadTooLarge(
            f"Request body of {declared} bytes exceeds the limit of {limit} bytes."
        )


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes]:
    """The request body as it arrives, refused with 413 once it passes ``limit`` bytes."""
    check_declared_length(request.headers.get("content-length"), limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in limited_stream(request, limit)])


def require_json(request: Request) -> None:
    check_json_type(media_type(request))


def check_json_type(kind: str, *, model: str | None = None) -> None:
    """415 unless ``kind`` (a parsed media type, empty when absent) is JSON. With ``model``
    (the JSON endpoint's), the message also names that model's CSV endpoint."""
    if kind and kind != "application/json" and not kind.endswith("+json"):
        csv = (
            f" A CSV file goes to /v1/models/{model}/predict/csv instead "
            "(curl --data-binary @in.csv -H 'Content-Type: text/csv')."
            if model is not None
            else ""
        )
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not accepted here.",
            hint="Send JSON with 'Content-Type: application/json' (curl: -H 'Content-Type: application/json')."
            + csv,
        )


def decode_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("The request body is empty; expected JSON.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None


async def spool_csv(request: Request, limit: int) -> IO[bytes]:
    """Put a CSV body (raw ``text/csv`` or a multipart upload) in a spooled temporary file:
    memory up to a few MiB, disk beyond, never more than ``limit`` bytes.

    This is the only temporary file of a CSV request: the disk an upload uses (in
    ``TMPDIR``, RAM on a tmpfs) is its own size, at most ``limit``, until its answer is
    sent. The answer is never written to disk: it is held in memory within the worker's
    budget, or scored again as it is sent (see ``DataPlane.score_csv``)."""
    kind = media_type(request)
    # The spool outlives this function: the caller closes it after scoring.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        if kind in ("text/csv", "application/csv", "text/plain"):
            async for chunk in limited_stream(request, limit):
                spool.write(chunk)
        elif kind == "multipart/form-data":
            uploaded = await _spool_upload(request, limit, spool)
            if uploaded is not None:
                spool.close()
                spool = uploaded
        else:
            raise UnsupportedMediaType(
                f"Content-Type {kind or '(none)'!r} is not accepted for CSV scoring.",
                hint="Send the file as 'text/csv' (curl --data-binary @in.csv -H 'Content-Type: text/csv') "
                "or as a multipart upload with field 'file' (curl -F file=@in.csv).",
            )
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


async def _spool_upload(request: Request, limit: int, spool: IO[bytes]) -> IO[bytes] | None:
    """The uploaded file's own spool; or ``None`` when the CSV came as a plain form field,
    written to ``spool``."""
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(
        request.headers, limited_stream(request, limit), max_files=1, max_fields=10
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"The multipart upload is malformed: {exc.message}.") from None
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        # Starlette spooled the file part already: scored from there, not copied, which
        # would hold the upload twice on disk. The caller closes it (the form's only file).
        upload.file.seek(0)
        return upload.file
    try:
        if isinstance(upload, str):  # sent as a plain form field rather than a file part
            spool.write(upload.encode())
            return None
        raise BadRequest("The multipart upload has no file field named 'file'.")
    finally:
        await form.close()

"""``POST /v1/models/{name}/feedback``: the true labels (classifiers) or values (regressors)
of logged predictions, by request id, as JSON ``[{"request_id", "label"|"value", "row"?}]``
or as CSV (``request_id,label`` or ``request_id,value``, optional ``row``; raw ``text/csv``
or a multipart upload with field ``file``, as the model page sends it).

An adapter like :mod:`~dockyard.server.v1`: it decodes and checks the items here, then hands
them to the prediction log's store (a :class:`FeedbackSink`) in a worker thread. Every item
is checked before any is written: one bad item refuses the request (422, each problem
named). The answer says how many items came and how many matched a logged prediction.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any, Protocol

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import BadRequest, Conflict, FieldError, InvalidInput, PayloadTooLarge
from dockyard.monitoring.source import LogReader
from dockyard.monitoring.store import Feedback
from dockyard.predictor import Predictor, label_text
from dockyard.predictor.validation import MAX_ERRORS
from dockyard.server.bodies import check_json_type, decode_json, media_type, read_body, spool_csv
from dockyard.server.dataplane import DataPlane
from dockyard.server.responses import JSONResponse
from dockyard.settings import Settings

MAX_ITEMS = 10_000
"""Feedback items one request may carry; more are refused (413): send them in parts."""
MAX_REQUEST_ID = 128
"""The longest request id the server gives or takes (see server/steps.py)."""
MAX_ROW = 2**31 - 1
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "multipart/form-data")
LOG_SETTING = "DOCKYARD_PREDICTION_LOG"


class FeedbackSink(Protocol):
    """Where feedback goes: the prediction log's store."""

    def insert_feedback(self, items: Sequence[Feedback]) -> int:
        """Write ``items``; return how many match a logged prediction."""
        ...


class PredictionLogStore(FeedbackSink, LogReader, Protocol):
    """The prediction log's store as the server uses it: feedback in, windows out."""


class Truths:
    """What a true answer may be for one model: one of its classes (compared as text, so
    ``true`` and ``"true"`` are the same class, and 2 and 2.0 for a float class), or a
    finite number."""

    def __init__(self, predictor: Predictor) -> None:
        self.model = predictor.name
        if predictor.task == "classification":
            self.key = "label"
            self.classes = {label_text(c): c for c in predictor.classes}
            self.numbers = {
                float(c): c
                for c in predictor.classes
                if isinstance(c, int | float) and not isinstance(c, bool)
            }
        elif predictor.task == "regression":
            self.key = "value"
        else:
            raise Conflict(
                f"Model '{predictor.name}' is a {predictor.task.replace('_', ' ')} model: "
                "feedback takes the true labels of a classifier or the true values of a "
                "regressor."
            )

    @property
    def other(self) -> str:
        return "value" if self.key == "label" else "label"

    def of(self, given: Any, text: bool) -> tuple[Any, str | None]:
        """The truth ``given`` names (``text``: a CSV cell), or why it names none."""
        if self.key == "value":
            return self._value(given, text)
        if not isinstance(given, str | int | float | bool):
            return None, "expected one of the model's classes"
        found = self.classes.get(label_text(given), _MISSING)
        if found is _MISSING and self.numbers:
            number = _number(given, text)
            found = self.numbers.get(number, _MISSING) if number is not None else _MISSING
        if found is _MISSING:
            shown = ", ".join(list(self.classes)[:10])
            more = ", …" if len(self.classes) > 10 else ""
            return None, f"{str(given)[:100]!r} is not one of the model's classes ({shown}{more})"
        return found, None

    def _value(self, given: Any, text: bool) -> tuple[Any, str | None]:
        number = _number(given, text)
        if number is None:
            return None, "expected a finite number"
        return number, None


_MISSING = object()


def _number(given: Any, text: bool) -> float | None:
    if text and isinstance(given, str):
        try:
            given = float(given)
        except ValueError:
            return None
    if isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given):
        return float(given)
    return None


class FeedbackEndpoint:
    def __init__(self, plane: DataPlane, settings: Settings, sink: FeedbackSink | None) -> None:
        self.plane = plane
        self.sink = sink
        self.limit = settings.max_body_bytes

    async def receive(self, request: Request) -> Response:
        predictor = self.plane.model(request.path_params["name"])
        sink = self.sink
        if sink is None:
            raise Conflict(
                "This server keeps no prediction log, so feedback has nothing to match.",
                hint=f"Set {LOG_SETTING} to a database URL (sqlite:///PATH or postgresql://…).",
            )
        truths = Truths(predictor)
        received = time.time()
        kind = media_type(request)
        if kind in CSV_TYPES:
            source = await spool_csv(request, self.limit)
            try:
                items = await to_thread.run_sync(csv_items, source, truths, received)
            finally:
                source.close()
        else:
            check_json_type(kind)
            items = json_items(decode_json(await read_body(request, self.limit)), truths, received)
        matched = await to_thread.run_sync(sink.insert_feedback, items)
        return JSONResponse({"received": len(items), "matched": matched})


def json_items(payload: Any, truths: Truths, received: float) -> list[Feedback]:
    """A JSON body as feedback items; every problem found (up to ``MAX_ERRORS``) refuses it."""
    if not isinstance(payload, list):
        raise InvalidInput(
            [FieldError(None, f'expected an array of {{"request_id": …, "{truths.key}": …}}')]
        )
    _check_count(len(payload))
    allowed = ("request_id", "row", truths.key)
    items: list[Feedback] = []
    errors: list[FieldError] = []
    for i, item in enumerate(payload):
        if not isinstance(item, dict):
            errors.append(FieldError(None, "expected an object", row=i))
        else:
            for key in item:
                if key not in allowed and len(errors) < MAX_ERRORS:
                    errors.append(FieldError(key[:100], _unknown(key, truths), row=i))
            if truths.key not in item:
                errors.append(FieldError(truths.key, "required", row=i))
            found = _item(item, truths, received, False, errors, row=i)
            if found is not None:
                items.append(found)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InvalidInput(errors[:MAX_ERRORS])
    return items


def csv_items(source: IO[bytes], truths: Truths, received: float) -> list[Feedback]:
    """A CSV file as feedback items: a header naming ``request_id`` and ``label`` (or
    ``value``), and ``row`` optionally; other columns are ignored. Blocking: run it in a
    thread."""
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        return _csv_items(reader, truths, received)
    except UnicodeDecodeError:
        raise BadRequest("The CSV file is not UTF-8 text.") from None
    except csv.Error as exc:
        raise BadRequest(f"The CSV file is malformed at line {reader.line_num}: {exc}.") from None
    finally:
        text.detach()  # the caller closes the source


def _csv_items(reader: Any, truths: Truths, received: float) -> list[Feedback]:
    header = next(reader, None)
    if not header:
        raise BadRequest(f"The CSV file is empty; expected a header: request_id,{truths.key}.")
    columns = _columns(header, truths)
    errors: list[FieldError] = []
    items: list[Feedback] = []
    width = max(columns.values()) + 1
    for cells in reader:
        if not cells:
            continue  # a blank line
        line: int = reader.line_num
        _check_count(len(items) + len(errors) + 1)
        if len(cells) < width:
            errors.append(FieldError(None, f"expected at least {width} cells", line=line))
        else:
            record = {name: cells[i] for name, i in columns.items()}
            found = _item(record, truths, received, True, errors, line=line)
            if found is not None:
                items.append(found)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise InvalidInput(errors[:MAX_ERRORS])
    if not items:
        raise InvalidInput([FieldError(None, "no feedback rows after the header")])
    return items


def _columns(header: list[str], truths: Truths) -> dict[str, int]:
    """Where the header puts request_id, the truth and row."""
    names = [h.strip() for h in header]
    columns: dict[str, int] = {}
    errors: list[FieldError] = []
    for i, name in enumerate(names):
        if name in ("request_id", "row", truths.key):
            if name in columns:
                errors.append(FieldError(name, "column given more than once", line=1))
            columns[name] = i
    for name in ("request_id", truths.key):
        if name not in columns:
            wrong = truths.other in names
            reason = (
                f"column missing; model '{truths.model}' takes '{truths.key}', not '{truths.other}'"
            )
            errors.append(FieldError(name, reason if wrong else "column missing", line=1))
    if errors:
        raise InvalidInput(errors)
    return columns


def _item(
    record: Mapping[str, Any],
    truths: Truths,
    received: float,
    text: bool,
    errors: list[FieldError],
    row: int | None = None,
    line: int | None = None,
) -> Feedback | None:
    before = len(errors)
    request_id = record.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
        expected = f"expected a request id (1 to {MAX_REQUEST_ID} characters, as X-Request-ID)"
        errors.append(FieldError("request_id", expected, row=row, line=line))
    position = _row(record.get("row", 0), text)
    if position is None:
        errors.append(FieldError("row", "expected a row number, 0 or more", row=row, line=line))
    truth: Any = None
    if truths.key in record:
        truth, reason = truths.of(record[truths.key], text)
        if reason is not None:
            errors.append(FieldError(truths.key, reason, row=row, line=line))
    if len(errors) > before or position is None or not isinstance(request_id, str):
        return None
    return Feedback(request_id, position, truths.model, truth, received)


def _row(given: Any, text: bool) -> int | None:
    if text and isinstance(given, str):
        given = given.strip()
        if not given:
            return 0  # an empty cell in a row column: the first row
        if not (given.isascii() and given.isdigit() and len(given) <= 10):
            return None
        given = int(given)
    if isinstance(given, int) and not isinstance(given, bool) and 0 <= given <= MAX_ROW:
        return given
    return None


def _unknown(key: str, truths: Truths) -> str:
    if key == truths.other:
        return f"unknown key; model '{truths.model}' takes '{truths.key}'"
    return f"unknown key; expected request_id, {truths.key} and optionally row"


def _check_count(count: int) -> None:
    if count == 0:
        raise InvalidInput([FieldError(None, "no feedback items")])
    if count > MAX_ITEMS:
        raise PayloadTooLarge(
            f"More than {MAX_ITEMS:,} feedback items in one request.",
            hint="Send them in several requests.",
        )


__all__ = [
    "MAX_ITEMS",
    "Feedback",
    "FeedbackEndpoint",
    "FeedbackSink",
    "PredictionLogStore",
    "Truths",
    "csv_items",
    "json_items",
]

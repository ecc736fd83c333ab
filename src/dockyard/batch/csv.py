"""Score a CSV stream chunk by chunk: each input row comes out with prediction columns
appended. Memory is bounded by the chunk size, not the file size.

Extra input columns (IDs and the like) pass through untouched; feature columns may come
in any order. Every row of a chunk is validated before any of it is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any

from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Prediction, Predictor

DEFAULT_CHUNK_ROWS = 50_000
# A single CSV field larger than this is refused rather than buffered.
MAX_FIELD_BYTES = 1 << 20
MAX_COLUMNS = 10_000


def _text(source: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig: spreadsheets often write a byte-order mark before the header.
    return io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict", newline="")


def _header(reader: Any, predictor: Predictor) -> tuple[list[str], list[int]]:
    try:
        header = next(reader)
    except StopIteration:
        raise BadRequest("The CSV is empty: expected a header row naming the features.") from None
    if len(header) > MAX_COLUMNS:
        raise BadRequest(
            f"The CSV header has {len(header)} columns; at most {MAX_COLUMNS} are accepted."
        )
    header = [h.strip() for h in header]
    positions = {name: i for i, name in enumerate(header)}
    missing = [n for n in predictor.feature_names if n not in positions]
    if missing:
        raise InvalidInput(
            [FieldError(n, "missing column in the CSV header", line=1) for n in missing],
            message=f"The CSV header lacks feature column(s): {', '.join(missing)}.",
        )
    clash = [c for c in predictor.output_columns if c in positions]
    if clash:
        raise BadRequest(
            f"The CSV already has column(s) {', '.join(clash)}, which scoring would add."
        )
    return header, [positions[n] for n in predictor.feature_names]


def _rows(reader: Any, width: int, chunk_rows: int) -> Iterator[tuple[list[list[str]], list[int]]]:
    rows: list[list[str]] = []
    lines: list[int] = []
    for row in reader:
        if not row:
            continue  # blank line
        if len(row) != width:
            raise InvalidInput(
                [
                    FieldError(
                        None, f"has {len(row)} fields, the header has {width}", line=reader.line_num
                    )
                ],
            )
        rows.append(row)
        lines.append(reader.line_num)
        if len(rows) >= chunk_rows:
            yield rows, lines
            rows, lines = [], []
    if rows:
        yield rows, lines


def iter_scored(
    predictor: Predictor, source: IO[bytes], *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[tuple[list[list[Any]], Prediction | None]]:
    """Yield the header, then scored rows chunk by chunk (each a list of CSV rows),
    each with the prediction that made it (``None`` for the header)."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(_text(source), strict=True)
    try:
        header, positions = _header(reader, predictor)
        yield [[*header, *predictor.output_columns]], None
        for rows, lines in _rows(reader, len(header), chunk_rows):
            columns = [[row[i] for row in rows] for i in positions]
            try:
                validated = predictor.validator.text_columns(columns, first_line=0)
            except InvalidInput as exc:
                raise InvalidInput(
                    [FieldError(e.field, e.reason, line=lines[e.line or 0]) for e in exc.errors]
                ) from None
            prediction = predictor.predict_columns(validated)
            if prediction.probabilities is None:
                block = [[*row, out] for row, out in zip(rows, prediction.outputs, strict=True)]
            else:
                probabilities = prediction.probabilities.tolist()
                block = [
                    [*row, out, *probs]
                    for row, out, probs in zip(rows, prediction.outputs, probabilities, strict=True)
                ]
            yield block, prediction
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV is not valid UTF-8 (byte {exc.start} of a chunk).") from None
    except csv.Error as exc:
        raise BadRequest(f"The CSV is malformed at line {reader.line_num}: {exc}.") from None


def score_csv(
    predictor: Predictor,
    source: IO[bytes],
    sink: IO[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: Callable[[Prediction], None] | None = None,
) -> int:
    """Score ``source`` (binary CSV) into ``sink`` (text); return the number of data rows.
    ``on_chunk`` sees each chunk's prediction after its rows are written."""
    writer = csv.writer(sink, lineterminator="\n")
    count = 0
    for block, prediction in iter_scored(predictor, source, chunk_rows=chunk_rows):
        writer.writerows(block)
        if prediction is not None:
            count += len(prediction)
            if on_chunk is not None:
                on_chunk(prediction)
    return count

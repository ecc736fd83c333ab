"""The exact path of CSV scoring: the csv module reads every cell, and errors name the
file line and field."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import IO

from dockyard.batch.reading import CHUNK_BYTES, Lines, read_header, read_rows, text_stream
from dockyard.batch.writing import csv_line, csv_text, prediction_cells
from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Prediction, Predictor


def score_exact(
    predictor: Predictor,
    source: IO[bytes],
    *,
    first_line: int,
    header: bool,
    chunk_rows: int,
    chunk_bytes: int = CHUNK_BYTES,
    width: int = 0,
    positions: Sequence[int] = (),
    escape: bool = True,
) -> Iterator[tuple[bytes, int, Prediction | None]]:
    """The csv module's reading of ``source``, whose first line is file line ``first_line``,
    in chunks of ``chunk_rows`` rows or ``chunk_bytes`` bytes; ``escape``: cells that a
    spreadsheet would run as formulas are escaped (:mod:`dockyard.batch.writing`)."""
    offset = first_line - 1
    source_lines = Lines(text_stream(source), first_line=first_line, width=width)
    reader = csv.reader(source_lines, strict=True)
    try:
        if header:
            names, positions = read_header(reader, predictor, source_lines)
            width = len(names)
            yield csv_line([*names, *predictor.output_columns], escape=escape), 0, None
        for rows, lines in read_rows(reader, source_lines, width, chunk_rows, offset, chunk_bytes):
            data, prediction = score_rows(predictor, rows, lines, positions, escape=escape)
            yield data, len(prediction), prediction
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV is not valid UTF-8 (byte {exc.start} of a chunk).") from None
    except csv.Error as exc:
        raise BadRequest(
            f"The CSV is malformed at line {reader.line_num + offset}: {exc}."
        ) from None


def score_rows(
    predictor: Predictor,
    rows: list[list[str]],
    lines: list[int],
    positions: Sequence[int],
    *,
    escape: bool,
) -> tuple[bytes, Prediction]:
    """Validate, predict and write one chunk of rows read by the csv module."""
    columns = [[row[i] for row in rows] for i in positions]
    try:
        validated = predictor.validator.text_columns(columns, first_line=0)
    except InvalidInput as exc:
        raise InvalidInput(
            [FieldError(e.field, e.reason, line=lines[e.line or 0]) for e in exc.errors]
        ) from None
    prediction = predictor.predict_columns(validated)
    cells = prediction_cells(prediction, regression=predictor.task == "regression")
    out = [[*row, *tail] for row, tail in zip(rows, cells, strict=True)]
    return csv_text(out, escape=escape).encode("utf-8"), prediction

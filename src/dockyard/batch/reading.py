"""Reading CSV input: the header, rows in chunks, and the limits that bound them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO, Any

from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Predictor

# A single CSV field larger than this is refused rather than buffered.
MAX_FIELD_BYTES = 1 << 20
MAX_COLUMNS = 10_000


def text_stream(source: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig: spreadsheets often write a byte-order mark before the header.
    return io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict", newline="")


def read_header(reader: Any, predictor: Predictor) -> tuple[list[str], list[int]]:
    """The header's names and the positions of the model's features in it."""
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


def read_rows(
    reader: Any, width: int, chunk_rows: int, offset: int = 0
) -> Iterator[tuple[list[list[str]], list[int]]]:
    """Chunks of rows from ``reader``, each row with its file line."""
    rows: list[list[str]] = []
    lines: list[int] = []
    for row in reader:
        if not row:
            continue  # blank line
        if len(row) != width:
            raise InvalidInput(
                [
                    FieldError(
                        None,
                        f"has {len(row)} fields, the header has {width}",
                        line=reader.line_num + offset,
                    )
                ],
            )
        rows.append(row)
        lines.append(reader.line_num + offset)
        if len(rows) >= chunk_rows:
            yield rows, lines
            rows, lines = [], []
    if rows:
        yield rows, lines


class Joined(io.RawIOBase):
    """``head`` followed by the rest of ``tail``, as one byte stream."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._tail.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

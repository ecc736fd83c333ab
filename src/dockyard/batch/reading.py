"""Reading CSV input: the header, rows in chunks, and the limits that bound them."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import IO, Any

from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Predictor

# A single CSV field larger than this is refused rather than buffered.
MAX_FIELD_BYTES = 1 << 20
MAX_COLUMNS = 10_000
# A row (header included) longer than this is refused as soon as it is that long, and a
# row is refused as soon as it has more fields than the header: neither is read in full.
MAX_ROW_BYTES = 4 << 20
# A chunk ends at this many bytes of input, or at its number of rows, whichever comes
# first: memory is bounded for wide rows as for narrow ones.
CHUNK_BYTES = 1 << 20
# A line is read this many characters at a time, and checked after each.
_PIECE = 1 << 16
# The inside of a quoted field up to its closing quote, as the csv module reads it
# (possessive: linear on any input).
_INSIDE_QUOTES = re.compile(r'[^"]*+(?:""[^"]*+)*+')


def text_stream(source: IO[bytes]) -> io.TextIOWrapper:
    # utf-8-sig: spreadsheets often write a byte-order mark before the header.
    return io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict", newline="")


def read_header(
    reader: Any, predictor: Predictor, lines: Lines | None = None
) -> tuple[list[str], list[int]]:
    """The header's names and the positions of the model's features in it; ``lines``,
    when ``reader`` reads from them, then checks every row against the header's width."""
    try:
        header = next(reader)
    except StopIteration:
        raise BadRequest("The CSV is empty: expected a header row naming the features.") from None
    if lines is not None:
        lines.row_done(width=len(header))
    if len(header) > MAX_COLUMNS:
        raise BadRequest(
            f"The CSV header has {len(header)} columns; at most {MAX_COLUMNS} are accepted."
        )
    header = [h.strip() for h in header]
    twice = sorted({n for n in predictor.feature_names if header.count(n) > 1})
    if twice:
        where = "; ".join(
            f"{n!r} is columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == n)}"
            for n in twice
        )
        raise BadRequest(
            f"The CSV header names feature column(s) more than once: {where}. Rename or "
            "remove the extra ones, so that it is clear which to score."
        )
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
    reader: Any,
    source: Lines,
    width: int,
    chunk_rows: int,
    offset: int = 0,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[tuple[list[list[str]], list[int]]]:
    """Chunks of rows from ``reader``, which reads ``source``, each row with its file
    line; a chunk ends at ``chunk_rows`` rows or ``chunk_bytes`` bytes of input."""
    rows: list[list[str]] = []
    lines: list[int] = []
    size = 0
    for row in reader:
        size += source.row_done()
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
        if len(rows) >= chunk_rows or size >= chunk_bytes:
            yield rows, lines
            rows, lines = [], []
            size = 0
    if rows:
        yield rows, lines


class Lines:
    """The lines of a text stream, for ``csv.reader``, read so that no row is held in full
    before it is known to fit: a line is read in pieces, and a row is refused as soon as
    it is longer than ``MAX_ROW_BYTES`` or has more fields than ``width``.

    The reader of the rows calls :meth:`row_done` after each one: the lines given out
    since then are the next row's (one, or more when a quoted field spans lines).
    """

    def __init__(self, text: IO[str], *, first_line: int = 1, width: int = 0) -> None:
        self._text = text
        self._line = first_line - 1  # file line of the last line given out
        self._width = width  # 0: the header, at most MAX_COLUMNS fields
        self._row: list[str] = []  # the pieces of the current row
        self._size = 0
        self._commas = 0
        self._fields: FieldCounter | None = None  # once the commas alone could be too many
        self._carry = ""

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        line = self._carry or self._text.readline(_PIECE)
        self._carry = ""
        if not line:
            raise StopIteration
        self._line += 1
        self._take(line)
        if len(line) < _PIECE or line[-1] == "\n":
            return line
        parts = [line]
        # A piece as long as asked for: the line may go on (or end with the "\r" of a
        # "\r\n" whose "\n" the next read returns alone).
        while len(parts[-1]) == _PIECE and parts[-1][-1] != "\n":
            piece = self._text.readline(_PIECE)
            if parts[-1][-1] == "\r" and piece != "\n":
                self._carry = piece  # the line ended with a lone "\r"
                break
            if not piece:
                break
            self._take(piece)
            parts.append(piece)
        return "".join(parts)

    def row_done(self, *, width: int | None = None) -> int:
        """The current row is read (its fields are now ``width``, if given); return its
        size in characters."""
        size = self._size
        self._row = []
        self._size = self._commas = 0
        self._fields = None
        if width is not None:
            self._width = width
        return size

    def _take(self, piece: str) -> None:
        self._row.append(piece)
        self._size += len(piece)
        self._commas += piece.count(",")
        header = self._width == 0
        width = MAX_COLUMNS if header else self._width
        if self._size > MAX_ROW_BYTES:
            where = "The CSV header" if header else f"Line {self._line} of the CSV"
            raise BadRequest(
                f"{where} is longer than {MAX_ROW_BYTES:,} bytes; a row may be at most "
                f"that long (and a field {MAX_FIELD_BYTES:,} bytes)."
            )
        if self._commas < width:
            return
        if self._fields is None:  # counted from the row's start, then piece by piece
            self._fields = FieldCounter()
            for part in self._row:
                self._fields.feed(part)
        else:
            self._fields.feed(piece)
        if self._fields.fields <= width:
            return
        if header:
            raise BadRequest(
                f"The CSV header has more than {MAX_COLUMNS:,} columns; at most "
                f"{MAX_COLUMNS:,} are accepted."
            )
        raise InvalidInput(
            [
                FieldError(
                    None, f"has more than {width} fields, the header has {width}", line=self._line
                )
            ]
        )


class FieldCounter:
    """Counts the fields of a row fed in pieces, as the csv module reads them: commas in
    quoted fields separate nothing. Each piece costs a few string searches per field."""

    _START, _UNQUOTED, _QUOTED, _QUOTE = range(4)

    def __init__(self) -> None:
        self.fields = 1
        self._state = self._START

    def feed(self, text: str) -> None:
        position, end = 0, len(text)
        while position < end:
            if self._state == self._UNQUOTED:
                comma = text.find(",", position)
                if comma < 0:
                    return
                self.fields += 1
                position, self._state = comma + 1, self._START
            elif self._state == self._START:
                quoted = text[position] == '"'
                position += quoted
                self._state = self._QUOTED if quoted else self._UNQUOTED
            elif self._state == self._QUOTED:
                inside = _INSIDE_QUOTES.match(text, position)
                assert inside is not None  # the pattern matches the empty string
                position = inside.end()
                if position < end:  # a quote: closing, or the first of a doubled one
                    position, self._state = position + 1, self._QUOTE
            else:  # after a quote: a second one is a quote character, else it closed
                doubled = text[position] == '"'
                position += doubled
                self._state = self._QUOTED if doubled else self._UNQUOTED


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

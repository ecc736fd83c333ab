"""Score a CSV stream chunk by chunk: each input row comes out with prediction columns
appended. Memory is bounded by the chunk size, not the file size.

Extra input columns (IDs and the like) pass through untouched; feature columns may come
in any order. Every row of a chunk is validated before any of it is written.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import orjson

from dockyard.batch import processes as _processes
from dockyard.batch.numeric import parse_lines
from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Prediction, Predictor, label_text
from dockyard.predictor.validation import MAX_MAGNITUDE

# Small enough for a chunk's arrays to stay in cache: 10,000 Iris rows score about 10 %
# faster per row than 50,000.
DEFAULT_CHUNK_ROWS = 10_000
# A single CSV field larger than this is refused rather than buffered.
MAX_FIELD_BYTES = 1 << 20
MAX_COLUMNS = 10_000
# The fast path reads the file in blocks of this size.
_BLOCK = 4 << 20
_NEWLINE = 10


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


def _rows(
    reader: Any, width: int, chunk_rows: int, offset: int = 0
) -> Iterator[tuple[list[list[str]], list[int]]]:
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


def iter_scored(
    predictor: Predictor,
    source: IO[bytes],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    processes: int = 1,
    fd: int | None = None,
) -> Iterator[tuple[bytes, int, Prediction | None]]:
    """Yield the output header, then scored rows chunk by chunk, as UTF-8 CSV bytes, each
    with its number of rows and the prediction that made them (``None`` for the header).

    Chunks of plain decimal numbers take a vectorised path (:mod:`dockyard.batch.numeric`)
    that passes each input line through untouched; any chunk it does not accept, and the
    whole rest of a file from its first quote character on, take the exact path through
    the csv module. Both give the same bytes for the same rows.

    With ``processes`` > 1 and the output's file descriptor ``fd``, fast-path chunks are
    scored by forked processes (:mod:`dockyard.batch.processes`) that write them to ``fd``
    themselves: those come out as empty bytes with their row count, and the prediction
    only of those scored in this process. For command-line use only: never fork a server.
    """
    csv.field_size_limit(MAX_FIELD_BYTES)
    first = source.readline(MAX_FIELD_BYTES)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    plain = first.endswith(b"\n") and b'"' not in first and b"\r" not in first[:-2]
    if not (plain and _numeric(predictor)):
        yield from _exact(
            predictor,
            io.BufferedReader(_Joined(first, source)),
            first_line=1,
            header=True,
            chunk_rows=chunk_rows,
        )
        return
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV is not valid UTF-8 (byte {exc.start} of a chunk).") from None
    header, positions = _header(csv.reader([text.rstrip("\r\n")]), predictor)
    yield _csv_line([*header, *predictor.output_columns]), 0, None
    fast = _Fast(predictor, source, len(header), positions, chunk_rows)
    if processes > 1 and fd is not None:
        yield from fast.in_processes(processes, fd)
    else:
        yield from fast.chunks()


def _numeric(predictor: Predictor) -> bool:
    return all(f.type in ("number", "integer") for f in predictor.metadata.features)


def _exact(
    predictor: Predictor,
    source: IO[bytes],
    *,
    first_line: int,
    header: bool,
    chunk_rows: int,
    width: int = 0,
    positions: Sequence[int] = (),
) -> Iterator[tuple[bytes, int, Prediction | None]]:
    """The csv module's reading of ``source``, whose first line is file line ``first_line``."""
    offset = first_line - 1
    reader = csv.reader(_text(source), strict=True)
    try:
        if header:
            names, positions = _header(reader, predictor)
            width = len(names)
            yield _csv_line([*names, *predictor.output_columns]), 0, None
        for rows, lines in _rows(reader, width, chunk_rows, offset):
            data, prediction = _score_rows(predictor, rows, lines, positions)
            yield data, len(prediction), prediction
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV is not valid UTF-8 (byte {exc.start} of a chunk).") from None
    except csv.Error as exc:
        raise BadRequest(
            f"The CSV is malformed at line {reader.line_num + offset}: {exc}."
        ) from None


def _score_rows(
    predictor: Predictor, rows: list[list[str]], lines: list[int], positions: Sequence[int]
) -> tuple[bytes, Prediction]:
    columns = [[row[i] for row in rows] for i in positions]
    try:
        validated = predictor.validator.text_columns(columns, first_line=0)
    except InvalidInput as exc:
        raise InvalidInput(
            [FieldError(e.field, e.reason, line=lines[e.line or 0]) for e in exc.errors]
        ) from None
    prediction = predictor.predict_columns(validated)
    cells = _prediction_cells(prediction, regression=predictor.task == "regression")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([*row, *tail] for row, tail in zip(rows, cells, strict=True))
    return out.getvalue().encode("utf-8"), prediction


def _prediction_cells(prediction: Prediction, *, regression: bool) -> list[list[str]]:
    """Each row's appended cells as text, formatted as in the fast path."""
    if regression:
        return [[v.decode()] for v in _float_rows(np.asarray(prediction.outputs))]
    if prediction.probabilities is None:
        return [[label_text(o)] for o in prediction.outputs]
    probabilities = [p.decode().split(",") for p in _float_rows(prediction.probabilities)]
    return [[label_text(o), *p] for o, p in zip(prediction.outputs, probabilities, strict=True)]


def _float_rows(values: np.ndarray) -> list[bytes]:
    """Rows of floats as CSV cells (shortest round-trip form), one bytes string per row."""
    matrix = np.ascontiguousarray(values.reshape(len(values), -1), dtype=np.float64)
    if len(matrix) == 0:
        return []
    # orjson writes floats in the shortest form that reads back exactly, far faster than
    # repr() one at a time.
    return orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],[")


def _csv_line(row: Sequence[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode("utf-8")


class _Joined(io.RawIOBase):
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


class _Fast:
    """Scores a numeric-feature CSV in chunks of ``chunk_rows`` rows, read in large
    blocks, handing each chunk the vectorised parser rejects to the exact path.

    (A worker thread parsing the next chunk while this one is formatted was tried: the
    two contend for the GIL between numpy calls, and it was no faster.)
    """

    def __init__(
        self,
        predictor: Predictor,
        source: IO[bytes],
        width: int,
        positions: Sequence[int],
        chunk_rows: int,
    ) -> None:
        self.predictor = predictor
        self.source = source
        self.width = width
        self.positions = positions
        self.chunk_rows = chunk_rows
        self.integer = [f.type == "integer" for f in predictor.metadata.features]
        self.regression = predictor.task == "regression"
        # Label cells, by whether probabilities follow them.
        self.cells = {
            more: {c: _label_cell(c, more) for c in predictor.classes} for more in (False, True)
        }

    def chunks(self) -> Iterator[tuple[bytes, int, Prediction | None]]:
        for job in self._jobs():
            if isinstance(job, _Switch):
                yield from self._switch(job)
                return
            data, prediction = self.score(job)
            yield data, len(prediction), prediction

    def in_processes(
        self, processes: int, fd: int
    ) -> Iterator[tuple[bytes, int, Prediction | None]]:
        """:meth:`chunks`, scored by ``processes`` processes that write to ``fd`` (see
        :mod:`dockyard.batch.processes`); from a switch to the csv module on, serially."""
        switch: list[_Switch] = []

        def jobs() -> Iterator[_processes.Job]:
            for job in self._jobs():
                if isinstance(job, _Switch):
                    switch.append(job)
                    return
                yield job

        scored = _processes.score_in_processes(self.score, jobs(), processes=processes, fd=fd)
        for rows, prediction in scored:
            yield b"", rows, prediction
        if switch:
            yield from self._switch(switch[0])

    def score(self, job: _processes.Job) -> tuple[bytes, Prediction]:
        """One chunk from :meth:`_jobs`, scored and formatted."""
        return self._format(self._compute(*job))

    def _switch(self, job: _Switch) -> Iterator[tuple[bytes, int, Prediction | None]]:
        yield from _exact(
            self.predictor,
            io.BufferedReader(_Joined(job.pending, self.source)),
            first_line=job.line,
            header=False,
            chunk_rows=self.chunk_rows,
            width=self.width,
            positions=self.positions,
        )

    def _jobs(self) -> Iterator[tuple[bytes, int, bool] | _Switch]:
        """Chunks as they become complete: their lines (each ending in a newline), the
        file line of the first, and whether any is blank; or where the csv module must
        take over."""
        pending = b""
        line = 2  # file line of pending's first line (the header is line 1)
        eof = False
        size = self.chunk_rows
        while not eof:
            block = self.source.read(_BLOCK)
            eof = not block
            pending += block
            cut = len(pending) if eof else pending.rfind(b"\n") + 1
            region = pending[:cut]
            returns = b"\r" in region  # a byte search: far faster than counting
            if (
                b'"' in region
                or (returns and region.count(b"\r") != region.count(b"\r\n"))
                or (cut == 0 and len(pending) > MAX_FIELD_BYTES)
            ):
                # Quoted fields may span lines, and lone carriage returns end them: from
                # here on, the csv module reads the file.
                yield _Switch(pending, line)
                return
            rest = pending[cut:]
            if returns:
                region = region.replace(b"\r\n", b"\n")
            if eof and region and not region.endswith(b"\n"):
                region += b"\n"
            ends = np.flatnonzero(np.frombuffer(region, dtype=np.uint8) == _NEWLINE)
            if len(ends) and (ends[0] == 0 or (np.diff(ends) == 1).any()):
                chunks, done = self._blank_chunks(region, eof)
            else:
                # No blank lines: chunk boundaries straight from the newline positions.
                count = len(ends)
                # Line counts at which chunks end; at the end of the file, the last one
                # may be short.
                if eof:
                    bounds = [*range(size, count, size), *([count] if count else [])]
                else:
                    bounds = list(range(size, count + 1, size))
                stops = [int(ends[b - 1]) + 1 for b in bounds]
                starts = [0, *stops][: len(stops)]
                firsts = [0, *bounds][: len(bounds)]
                chunks = [
                    (region[a:b], first, False)
                    for a, b, first in zip(starts, stops, firsts, strict=True)
                ]
                done = (bounds[-1] if bounds else 0, stops[-1] if stops else 0)
            for data, first, blanks in chunks:
                yield data, line + first, blanks
            line += done[0]
            pending = region[done[1] :] + rest

    def _blank_chunks(
        self, region: bytes, eof: bool
    ) -> tuple[list[tuple[bytes, int, bool]], tuple[int, int]]:
        """Chunks of ``chunk_rows`` non-blank lines when blank lines are interspersed;
        and how many lines and bytes they took."""
        lines = region.split(b"\n")
        lines.pop()  # region ends with a newline
        chunks = []
        start = taken = 0
        while start < len(lines):
            end, full = _chunk_end(lines, start, self.chunk_rows)
            if not full and not eof:
                break  # wait for the rest of this chunk
            part = lines[start:end]
            taken += sum(map(len, part)) + len(part)
            if any(part):
                chunks.append((b"\n".join(part) + b"\n", start, True))
            start = end
        return chunks, (start, taken)

    def _compute(self, data: bytes, first_line: int, blanks: bool) -> _Scored:
        """Parse and predict one chunk (``data``: whole lines, each ending in a newline)."""
        lines = data.split(b"\n")
        lines.pop()
        rows = [x for x in lines if x] if blanks else lines
        parsed = b"\n".join(rows) + b"\n" if blanks else data
        X = None
        if parsed.isascii() or _utf8(parsed):
            X = parse_lines(
                parsed, self.width, self.positions, integer=self.integer, magnitude=MAX_MAGNITUDE
            )
        if X is None:
            # Not plain decimals: read these lines as the csv module does (and word errors).
            scored = list(
                _exact(
                    self.predictor,
                    io.BytesIO(data),
                    first_line=first_line,
                    header=False,
                    chunk_rows=len(lines) + 1,
                    width=self.width,
                    positions=self.positions,
                )
            )
            body, _, prediction = scored[0]
            assert len(scored) == 1
            assert prediction is not None
            return _Scored(rows, prediction, body)
        return _Scored(rows, self.predictor.predict_matrix(X), None)

    def _format(self, scored: _Scored) -> tuple[bytes, Prediction]:
        prediction = scored.prediction
        if scored.body is not None:
            return scored.body, prediction
        rows = scored.rows
        # Each line's pieces, interleaved into one list for one join: a join per line
        # costs more than the rest of the formatting.
        pieces: list[list[bytes]]
        if self.regression:
            pieces = [rows, [b","] * len(rows), _float_rows(np.asarray(prediction.outputs))]
        else:
            more = prediction.probabilities is not None
            cells = self.cells[more]
            try:
                labels = list(map(cells.__getitem__, prediction.outputs))
            except KeyError:  # a label outside the recorded classes: encode it on the way
                labels = [cells.get(o) or _label_cell(o, more) for o in prediction.outputs]
            pieces = [rows, labels]
            if prediction.probabilities is not None:
                pieces.append(_float_rows(prediction.probabilities))
        step = len(pieces) + 1
        flat = [b"\n"] * (step * len(rows))
        for i, column in enumerate(pieces):
            flat[i::step] = column
        return b"".join(flat), prediction


def _label_cell(label: Any, more: bool) -> bytes:
    """``label`` as a CSV cell after a comma, and before one if ``more`` cells follow."""
    return b"," + _csv_line([label_text(label)])[:-1] + (b"," if more else b"")


@dataclass(frozen=True, slots=True)
class _Switch:
    pending: bytes
    line: int


@dataclass(frozen=True, slots=True)
class _Scored:
    rows: list[bytes]
    prediction: Prediction
    body: bytes | None
    """Already formatted by the exact path, when the fast one declined the chunk."""


def _chunk_end(lines: list[bytes], start: int, size: int) -> tuple[int, bool]:
    """End of the chunk of ``size`` non-blank lines from ``start``; whether it is full."""
    count = 0
    for index in range(start, len(lines)):
        if lines[index]:
            count += 1
            if count == size:
                return index + 1, True
    return len(lines), False


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def score_csv(
    predictor: Predictor,
    source: IO[bytes],
    sink: IO[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: Callable[[Prediction], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    processes: int = 1,
) -> int:
    """Score ``source`` (binary CSV) into ``sink`` (text); return the number of data rows.
    ``on_chunk`` sees each chunk's prediction, and ``on_rows`` its number of rows, after
    its rows are written.

    ``processes`` > 1 scores in that many processes when ``sink`` is a file or pipe (it is
    then written through its file descriptor) and the platform can fork; see
    :func:`iter_scored`. Predictions do not travel between processes: ``on_chunk`` then
    cannot be used."""
    if processes > 1 and on_chunk is not None:
        raise ValueError("on_chunk needs every prediction in this process: use on_rows")
    fd = _descriptor(sink) if processes > 1 and hasattr(os, "fork") else None
    buffer = getattr(sink, "buffer", None)
    if fd is not None:
        write: Callable[[bytes], Any] = functools.partial(_processes.write, fd)
    elif buffer is not None:
        # A text file over bytes: write the UTF-8 we already have straight through.
        sink.flush()
        write = buffer.write
    else:
        write = lambda data: sink.write(data.decode("utf-8"))  # noqa: E731
    count = 0
    scored = iter_scored(predictor, source, chunk_rows=chunk_rows, processes=processes, fd=fd)
    for block, rows, prediction in scored:
        if block:
            write(block)
        count += rows
        if rows and on_rows is not None:
            on_rows(rows)
        if prediction is not None and on_chunk is not None:
            on_chunk(prediction)
    return count


def _descriptor(sink: IO[str]) -> int | None:
    """The file descriptor under ``sink``, with everything written so far flushed to it;
    ``None`` when it has none (an in-memory buffer)."""
    try:
        fd = sink.fileno()
    except (AttributeError, io.UnsupportedOperation):
        return None
    sink.flush()
    return fd

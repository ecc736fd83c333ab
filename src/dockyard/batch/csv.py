"""Score a CSV stream chunk by chunk: each input row comes out with prediction columns
appended. Memory is bounded by the chunk size, not the file size.

Extra input columns (IDs and the like) pass through untouched; feature columns may come
in any order. Every row of a chunk is validated before any of it is written.

Reading (header, rows, limits) is in :mod:`~dockyard.batch.reading`, the two ways of
scoring in :mod:`~dockyard.batch.exact` and :mod:`~dockyard.batch.fast`, and the output
cells in :mod:`~dockyard.batch.writing`.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

from dockyard.batch.exact import score_exact
from dockyard.batch.fast import FastScorer
from dockyard.batch.processes import write as write_to
from dockyard.batch.reading import MAX_FIELD_BYTES, Joined, read_header
from dockyard.batch.writing import csv_line
from dockyard.defaults import CSV_CHUNK_ROWS
from dockyard.errors import BadRequest
from dockyard.predictor import Prediction, Predictor

DEFAULT_CHUNK_ROWS = CSV_CHUNK_ROWS  # one default for every caller (see dockyard.defaults)


def iter_scored(
    predictor: Predictor,
    source: IO[bytes],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    processes: int = 1,
    fd: int | None = None,
    escape_formulas: bool = True,
    threads: int = 1,
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

    ``escape_formulas``: cells a spreadsheet would run as formulas (``=HYPERLINK(...)``,
    ``@SUM(...)``) come out escaped, as OWASP recommends (:mod:`dockyard.batch.writing`);
    ``False`` writes every cell as it came.

    ``threads`` > 1 scores that many fast-path chunks at once, in threads (see
    :meth:`~dockyard.batch.fast.FastScorer.chunks`); the bytes are the same.
    """
    csv.field_size_limit(MAX_FIELD_BYTES)
    first = source.readline(MAX_FIELD_BYTES)
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    plain = first.endswith(b"\n") and b'"' not in first and b"\r" not in first[:-2]
    if not (plain and _numeric(predictor)):
        yield from score_exact(
            predictor,
            io.BufferedReader(Joined(first, source)),
            first_line=1,
            header=True,
            chunk_rows=chunk_rows,
            escape=escape_formulas,
        )
        return
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"The CSV is not valid UTF-8 (byte {exc.start} of a chunk).") from None
    header, positions = read_header(csv.reader([text.rstrip("\r\n")]), predictor)
    yield csv_line([*header, *predictor.output_columns], escape=escape_formulas), 0, None
    fast = FastScorer(predictor, source, len(header), positions, chunk_rows, escape=escape_formulas)
    if processes > 1 and fd is not None:
        yield from fast.in_processes(processes, fd)
    else:
        yield from fast.chunks(threads)


def _numeric(predictor: Predictor) -> bool:
    return all(f.type in ("number", "integer") for f in predictor.metadata.features)


def score_csv(
    predictor: Predictor,
    source: IO[bytes],
    sink: IO[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_chunk: Callable[[Prediction], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    processes: int = 1,
    escape_formulas: bool = True,
) -> int:
    """Score ``source`` (binary CSV) into ``sink`` (text); return the number of data rows.
    ``on_chunk`` sees each chunk's prediction, and ``on_rows`` its number of rows, after
    its rows are written.

    ``processes`` > 1 scores in that many processes when ``sink`` is a file or pipe (it is
    then written through its file descriptor) and the platform can fork; see
    :func:`iter_scored`. Predictions do not travel between processes: ``on_chunk`` then
    cannot be used. ``escape_formulas``: see :func:`iter_scored`."""
    if processes > 1 and on_chunk is not None:
        raise ValueError("on_chunk needs every prediction in this process: use on_rows")
    fd = _descriptor(sink) if processes > 1 and hasattr(os, "fork") else None
    buffer = getattr(sink, "buffer", None)
    if fd is not None:
        write: Callable[[bytes], Any] = functools.partial(write_to, fd)
    elif buffer is not None:
        # A text file over bytes: write the UTF-8 we already have straight through.
        sink.flush()
        write = buffer.write
    else:
        write = lambda data: sink.write(data.decode("utf-8"))  # noqa: E731
    count = 0
    scored = iter_scored(
        predictor,
        source,
        chunk_rows=chunk_rows,
        processes=processes,
        fd=fd,
        escape_formulas=escape_formulas,
    )
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

"""The ``runtime`` column: which runtime scored each row of a CSV, on request
(``dockyard predict --runtime-column``, ``POST .../predict/csv?runtime_column=true``).

The scorer produces whole records at a time (the header, then chunks of rows), and each
block gets the column appended: :func:`runtime_blocks` over ``iter_scored``'s blocks, or
:class:`RuntimeColumn`, a sink between ``score_csv`` and its output (with no file
descriptor, so the scorer writes through it in this process).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO, Final, TypeVar, cast

from dockyard.errors import BadRequest

RUNTIME_COLUMN: Final = "runtime"
QUERY_PARAMETER: Final = "runtime_column"
_TRUE: Final = ("true", "1", "yes")
_FALSE: Final = ("false", "0", "no", "")
_T = TypeVar("_T")


def requested(value: str | None) -> bool:
    """The ``runtime_column`` query parameter as a boolean; absent is ``False``."""
    if value is None:
        return False
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadRequest(f"{QUERY_PARAMETER}={value[:40]!r}: use true or false.")


def with_runtime(block: bytes, runtime: str, *, header: bool) -> bytes:
    """One block of whole CSV records (UTF-8) with the runtime cell appended to each: the
    column name instead when ``header``."""
    rows = list(csv.reader(io.StringIO(block.decode("utf-8"), newline="")))
    if header and rows:
        if RUNTIME_COLUMN in rows[0]:
            raise BadRequest(
                f"The CSV already has a column named '{RUNTIME_COLUMN}'; the runtime column "
                "would hide it.",
                hint="Rename that column, or score without the runtime column.",
            )
        cells = [[*rows[0], RUNTIME_COLUMN], *([*r, runtime] for r in rows[1:])]
    else:
        cells = [[*r, runtime] for r in rows]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(cells)
    return out.getvalue().encode("utf-8")


def runtime_blocks(
    blocks: Iterable[tuple[bytes, int, _T]], runtime: str
) -> Iterator[tuple[bytes, int, _T]]:
    """``iter_scored``'s blocks (the header first), each with the runtime column added."""
    header = True
    for block, rows, prediction in blocks:
        if not block:
            yield block, rows, prediction
            continue
        yield with_runtime(block, runtime, header=header), rows, prediction
        header = False


class RuntimeColumn(io.TextIOBase):
    """Writes each block of CSV records to ``sink`` with a ``runtime`` cell appended:
    the column name on the header, ``runtime`` (``onnx``, ``sklearn``) on every row."""

    def __init__(self, sink: IO[str], runtime: str) -> None:
        super().__init__()
        self._sink = sink
        self._runtime = runtime
        self._header = True

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            block = with_runtime(text.encode("utf-8"), self._runtime, header=self._header)
            self._header = False
            self._sink.write(block.decode("utf-8"))
        return len(text)

    def flush(self) -> None:
        self._sink.flush()

    def as_sink(self) -> IO[str]:
        """This object typed as the text file the scorer writes to."""
        return cast("IO[str]", self)

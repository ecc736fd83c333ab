"""The ``runtime`` column: which runtime scored each row of a CSV, on request
(``dockyard predict --runtime-column``, ``POST .../predict/csv?runtime_column=true``).

A sink between the scorer and its output: the scorer writes whole records at a time (the
header, then chunks of rows), and each gets the column appended. It has no file
descriptor, so the scorer writes through it in this process.
"""

from __future__ import annotations

import csv
import io
from typing import IO, Final, cast

from dockyard.errors import BadRequest

RUNTIME_COLUMN: Final = "runtime"
QUERY_PARAMETER: Final = "runtime_column"
_TRUE: Final = ("true", "1", "yes")
_FALSE: Final = ("false", "0", "no", "")


def requested(value: str | None) -> bool:
    """The ``runtime_column`` query parameter as a boolean; absent is ``False``."""
    if value is None:
        return False
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise BadRequest(f"{QUERY_PARAMETER}={value[:40]!r}: use true or false.")


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
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if self._header and rows:
            if RUNTIME_COLUMN in rows[0]:
                raise BadRequest(
                    f"The CSV already has a column named '{RUNTIME_COLUMN}'; the runtime column "
                    "would hide it.",
                    hint="Rename that column, or score without the runtime column.",
                )
            cells = [[*rows[0], RUNTIME_COLUMN], *([*r, self._runtime] for r in rows[1:])]
            self._header = False
        else:
            cells = [[*r, self._runtime] for r in rows]
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows(cells)
        self._sink.write(out.getvalue())
        return len(text)

    def flush(self) -> None:
        self._sink.flush()

    def as_sink(self) -> IO[str]:
        """This object typed as the text file the scorer writes to."""
        return cast("IO[str]", self)

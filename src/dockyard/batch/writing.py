"""Writing scored CSV: prediction cells formatted once for both reading paths, and cells
a spreadsheet would run as formulas escaped.

CSV injection (OWASP): a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is a formula to Excel, LibreOffice and Google Sheets when the file is
opened. Such a cell is written with a ``'`` in front, quoted, so that it shows as the
text it is. A cell that is a plain number (``-1.5``, ``+3``, ``-2e-05``) is a value, not a
formula, and is written as it is: escaping it would turn every negative number into text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from dockyard.predictor import Prediction, label_text

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# How a cell of written CSV that starts with one of FORMULA_STARTS can look (quoted or
# not), at the start of the text or after a comma or newline. Substring searches: a
# regular expression is a thousand times slower.
_QUOTED_STARTS = tuple('"' + start for start in FORMULA_STARTS)
_INNER_STARTS = tuple(
    boundary + start for boundary in (",", "\n") for start in FORMULA_STARTS + _QUOTED_STARTS
)
_SPECIAL = re.compile(r'[,"\r\n]')


def prediction_cells(prediction: Prediction, *, regression: bool) -> list[list[str]]:
    """Each row's appended cells as text, formatted as in the fast path."""
    if regression:
        return [[v.decode()] for v in float_rows(np.asarray(prediction.outputs))]
    if prediction.probabilities is None:
        return [[label_text(o)] for o in prediction.outputs]
    probabilities = [p.decode().split(",") for p in float_rows(prediction.probabilities)]
    return [[label_text(o), *p] for o, p in zip(prediction.outputs, probabilities, strict=True)]


def float_rows(values: np.ndarray) -> list[bytes]:
    """Rows of floats as CSV cells (shortest round-trip form), one bytes string per row."""
    matrix = np.ascontiguousarray(values.reshape(len(values), -1), dtype=np.float64)
    if len(matrix) == 0:
        return []
    # orjson writes floats in the shortest form that reads back exactly, far faster than
    # repr() one at a time.
    return orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],[")


def csv_line(row: Sequence[Any], *, escape: bool = True) -> bytes:
    """One row of text cells as a line of UTF-8 CSV."""
    return csv_text([[str(cell) for cell in row]], escape=escape).encode("utf-8")


def csv_text(rows: Sequence[Sequence[str]], *, escape: bool) -> str:
    """Rows of text cells as CSV, each line ending in a newline; with ``escape``, cells a
    spreadsheet would run as formulas are escaped (see the module's docstring)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    text = out.getvalue()
    # csv.writer leaves a carriage return unquoted here (the line terminator is "\n"); a
    # reader takes it for the end of the line. Such cells are quoted, escaped or not.
    if "\r" not in text and not (escape and _may_have_formulas(text)):
        return text  # the usual case: a few searches over the chunk's text
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        if any("\r" in cell or (escape and needs_escape(cell)) for cell in row):
            out.write(",".join(_cell(cell, escape) for cell in row) + "\n")
        else:
            writer.writerow(row)
    return out.getvalue()


def _may_have_formulas(text: str) -> bool:
    """Whether a cell of the CSV ``text`` may need escaping."""
    return text.startswith(FORMULA_STARTS + _QUOTED_STARTS) or any(
        start in text for start in _INNER_STARTS
    )


def needs_escape(cell: str) -> bool:
    """Whether a spreadsheet would take ``cell`` for a formula."""
    return cell.startswith(FORMULA_STARTS) and _NUMBER.fullmatch(cell) is None


def _cell(cell: str, escape: bool) -> str:
    """``cell`` as csv.writer writes it, but quoted also for a carriage return, and, with
    ``escape``, with a ``'`` in front if a spreadsheet would take it for a formula."""
    if escape and needs_escape(cell):
        cell = "'" + cell
    elif _SPECIAL.search(cell) is None:
        return cell
    return '"' + cell.replace('"', '""') + '"'


def label_cell(label: Any, more: bool, *, escape: bool = True) -> bytes:
    """``label`` as a CSV cell after a comma, and before one if ``more`` cells follow."""
    return b"," + csv_line([label_text(label)], escape=escape)[:-1] + (b"," if more else b"")

"""Writing scored CSV: prediction cells formatted once for both reading paths."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from dockyard.predictor import Prediction


def prediction_cells(prediction: Prediction, *, regression: bool) -> list[list[str]]:
    """Each row's appended cells as text, formatted as in the fast path."""
    if regression:
        return [[v.decode()] for v in float_rows(np.asarray(prediction.outputs))]
    if prediction.probabilities is None:
        return [[str(o)] for o in prediction.outputs]
    probabilities = [p.decode().split(",") for p in float_rows(prediction.probabilities)]
    return [[str(o), *p] for o, p in zip(prediction.outputs, probabilities, strict=True)]


def float_rows(values: np.ndarray) -> list[bytes]:
    """Rows of floats as CSV cells (shortest round-trip form), one bytes string per row."""
    matrix = np.ascontiguousarray(values.reshape(len(values), -1), dtype=np.float64)
    if len(matrix) == 0:
        return []
    # orjson writes floats in the shortest form that reads back exactly, far faster than
    # repr() one at a time.
    return orjson.dumps(matrix, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],[")


def csv_line(row: Sequence[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode("utf-8")


def label_cell(label: Any, more: bool) -> bytes:
    """``label`` as a CSV cell after a comma, and before one if ``more`` cells follow."""
    return b"," + csv_line([str(label)])[:-1] + (b"," if more else b"")

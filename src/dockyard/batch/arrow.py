"""Score Arrow record batches: the feature columns validated and predicted, the
prediction columns appended as typed Arrow arrays. Parquet files
(:mod:`dockyard.batch.parquet`) and Spark (:mod:`dockyard.spark`) both score through
:class:`ArrowScorer`.

The appended columns are those of CSV scoring (:attr:`Predictor.output_columns`), typed:
the label as the model's classes are (integer, floating, boolean or string), a
regression's value and each probability as float64. Every other column passes through
as it came.

Columns of plain numbers take a vectorised check (finite, within the validator's bounds,
whole for integer features); any batch that fails it, and any column of another type,
goes through the validator value by value, which words each refusal as for a CSV cell,
naming the row (0-based, counted from the start of the file or partition).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from dockyard.defaults import PARQUET_BATCH_ROWS
from dockyard.errors import BadRequest, FieldError, InvalidInput
from dockyard.predictor import Prediction, Predictor

# Rows validated and predicted at a time: enough to amortise each call, few enough for a
# batch's arrays to stay small (about 1 MB for Iris).
DEFAULT_BATCH_ROWS = PARQUET_BATCH_ROWS


def label_type(classes: Sequence[Any]) -> pa.DataType:
    """The Arrow type of a classifier's labels: that of its classes."""
    kinds = {type(c) for c in classes}
    if kinds == {bool}:
        return pa.bool_()
    if kinds and kinds <= {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    return pa.string()


def output_fields(predictor: Predictor) -> list[pa.Field]:
    """The columns scoring appends, named as in CSV scoring."""
    names = predictor.output_columns
    if predictor.task == "regression":
        return [pa.field(names[0], pa.float64(), nullable=False)]
    first = pa.field(names[0], label_type(predictor.classes), nullable=False)
    return [first, *(pa.field(n, pa.float64(), nullable=False) for n in names[1:])]


def check_columns(predictor: Predictor, names: Sequence[str], what: str) -> None:
    """Refuse input lacking a feature column, or already having a prediction column, as
    CSV scoring does; ``what`` names the input ("The Parquet file")."""
    present = set(names)
    missing = [n for n in predictor.feature_names if n not in present]
    if missing:
        raise InvalidInput(
            [FieldError(n, f"missing column in {what.lower()}") for n in missing],
            message=f"{what} lacks feature column(s): {', '.join(missing)}.",
        )
    clash = [c for c in predictor.output_columns if c in present]
    if clash:
        raise BadRequest(
            f"{what} already has column(s) {', '.join(clash)}, which scoring would add."
        )


class ArrowScorer:
    """Scores record batches of one schema for one predictor."""

    def __init__(self, predictor: Predictor, schema: pa.Schema, *, what: str) -> None:
        check_columns(predictor, schema.names, what)
        self.predictor = predictor
        self.fields = output_fields(predictor)
        self.schema = pa.schema([*schema, *self.fields], metadata=schema.metadata)
        self._positions = [schema.get_field_index(n) for n in predictor.feature_names]
        kinds = [f.type for f in predictor.metadata.features]
        self._numeric = all(k in ("number", "integer") for k in kinds) and all(
            pa.types.is_integer(schema.field(i).type) or pa.types.is_floating(schema.field(i).type)
            for i in self._positions
        )
        self._regression = predictor.task == "regression"
        # String labels are taken from an array of the classes by index.
        self._classes: tuple[list[bytes], dict[str, int]] | None = None
        if self.fields[0].type == pa.string():
            keys = [str(c) for c in predictor.classes]
            self._classes = ([k.encode("utf-8") for k in keys], {k: i for i, k in enumerate(keys)})

    def score(self, batch: pa.RecordBatch, *, first_row: int = 0) -> pa.RecordBatch:
        """``batch`` with the prediction columns appended; refusals name rows counted
        from ``first_row``."""
        return pa.RecordBatch.from_arrays(
            [*batch.columns, *self.predictions(batch, first_row=first_row)], schema=self.schema
        )

    def predictions(self, batch: pa.RecordBatch, *, first_row: int = 0) -> list[pa.Array]:
        """The prediction columns alone (:attr:`fields`) for ``batch``."""
        return self._arrays(self._predict(batch, first_row))

    def _predict(self, batch: pa.RecordBatch, first_row: int) -> Prediction:
        X = self._matrix(batch) if self._numeric else None
        try:
            if X is not None:
                return self.predictor.predict_matrix(X)
            columns = [_values(batch.column(i)) for i in self._positions]
            named = dict(zip(self.predictor.feature_names, columns, strict=True))
            return self.predictor.predict_columns(self.predictor.validator.json_columns(named))
        except InvalidInput as exc:
            raise InvalidInput(
                [FieldError(e.field, e.reason, row=first_row + (e.row or 0)) for e in exc.errors]
            ) from None

    def _matrix(self, batch: pa.RecordBatch) -> np.ndarray | None:
        """The features as a float64 matrix in model order, if every value passes the
        validator's checks for plain numbers; else ``None``."""
        columns = [batch.column(i) for i in self._positions]
        if any(c.null_count for c in columns):
            return None
        X = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
        for j, column in enumerate(columns):
            X[:, j] = _numbers(column)
        return X if self.predictor.validator.passes_matrix(X) else None

    def _arrays(self, prediction: Prediction) -> list[pa.Array]:
        if self._regression:
            return [_floats(np.asarray(prediction.outputs, dtype=np.float64))]
        outputs = self._labels(prediction.outputs)
        if prediction.probabilities is None:
            return [outputs]
        probabilities = prediction.probabilities
        return [outputs, *(_floats(probabilities[:, j]) for j in range(len(self.fields) - 1))]

    def _labels(self, outputs: list[Any]) -> pa.Array:
        kind = self.fields[0].type
        if kind == pa.int64():
            return _from_numpy(np.asarray(outputs, dtype=np.int64), kind)
        if kind == pa.float64():
            return _floats(np.asarray(outputs, dtype=np.float64))
        if kind == pa.string() and self._classes is not None:
            dictionary, index = self._classes
            try:
                found = np.fromiter(map(index.__getitem__, outputs), np.intp, len(outputs))
            except KeyError:  # a label outside the recorded classes: convert them one by one
                return pa.array(outputs, type=kind)
            return _take_strings(dictionary, found)
        return pa.array(outputs, type=kind)


# pa.array() and Array.to_numpy() import pandas (to check for its types): a second or so
# of a command's start; Array.take() imports pyarrow.compute (0.2 s). Numbers and labels
# go through their buffers instead.


def _numbers(column: pa.Array) -> np.ndarray:
    """A numeric column without nulls, as numpy."""
    dtype = np.dtype(column.type.to_pandas_dtype())
    data = column.buffers()[1]
    return np.frombuffer(data, dtype, len(column), column.offset * dtype.itemsize)


def _from_numpy(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    data = np.ascontiguousarray(values)
    return pa.Array.from_buffers(kind, len(data), [None, pa.py_buffer(data)])


def _floats(values: np.ndarray) -> pa.Array:
    return _from_numpy(np.ascontiguousarray(values, dtype=np.float64), pa.float64())


def _take_strings(texts: list[bytes], index: np.ndarray) -> pa.Array:
    """A string array of ``texts[i]`` for each ``i`` in ``index``, built with numpy: each
    text a row of a padded byte table, the rows taken and their padding dropped."""
    lengths = np.fromiter(map(len, texts), np.int32, len(texts))
    width = int(lengths.max(initial=0))
    table = np.zeros((len(texts), max(width, 1)), dtype=np.uint8)
    for row, text in zip(table, texts, strict=True):
        row[: len(text)] = np.frombuffer(text, dtype=np.uint8)
    taken = lengths[index]
    offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(taken, out=offsets[1:])
    data = table[index][np.arange(table.shape[1]) < taken[:, None]]
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(index), buffers)


def _values(column: pa.Array) -> list[Any]:
    """A column's values for the validator; an empty text cell is a null, as in CSV."""
    values: list[Any] = column.to_pylist()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return [None if v == "" else v for v in values]
    return values

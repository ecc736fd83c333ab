"""Tree ensembles scored once per cell: the rows that every tree sends down the same path.

A tree ensemble compares features with fixed thresholds, and nothing else. Two rows that
sit in the same place relative to every threshold of every feature (the same *cell*)
reach the same leaf of every tree, so they get the same answer, bit for bit. For a large
batch (a chunk of CSV or Parquet), :meth:`TreeCells.pick` finds each row's cell with two
``searchsorted`` per feature; ONNX Runtime then scores one row per cell and every row
takes its cell's answer. Rows often repeat at a model's resolution (rounded measurements,
counts, codes: the Iris benchmark's one-decimal rows fall in 42% as many cells as rows,
per 10,000-row chunk). Where they do not, a batch costs one ``np.unique`` more, and after
a few such batches in a row the model stops looking for a while.

Only a graph of one ``TreeEnsembleClassifier`` or ``TreeEnsembleRegressor`` (``ai.onnx.ml``)
fed straight from its one input qualifies, with thresholds as plain ``nodes_values``. They
are read from the ONNX file with protobuf, which onnxruntime installs, and the few fields
of ONNX's schema needed here: a serving image has no ``onnx`` package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]

MIN_ROWS = 512
"""Smaller batches (single rows, adaptive batches of JSON requests) are scored as they are."""
_FEW_REPEATS = 0.75
"""A batch with more cells than this share of its rows is scored row by row."""
_MISSES, _PAUSE = 4, 64
"""After this many batches in a row with few repeats, the next ``_PAUSE`` are not looked at."""
_MAX_KEYS = 2**62
_ENSEMBLES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")
_MODES = {
    b"LEAF",
    b"BRANCH_LEQ",
    b"BRANCH_LT",
    b"BRANCH_GTE",
    b"BRANCH_GT",
    b"BRANCH_EQ",
    b"BRANCH_NEQ",
}

# ONNX's schema (onnx/onnx.proto), only the fields read here; protobuf skips the others.
_FIELDS: dict[str, list[tuple[str, int, str | None, bool]]] = {
    "ModelProto": [("graph", 7, "GraphProto", False)],
    "GraphProto": [("node", 1, "NodeProto", True)],
    "NodeProto": [
        ("input", 1, None, True),
        ("op_type", 4, None, False),
        ("domain", 7, None, False),
        ("attribute", 5, "AttributeProto", True),
    ],
    "AttributeProto": [
        ("name", 1, None, False),
        ("floats", 7, "float", True),
        ("ints", 8, "int64", True),
        ("strings", 9, "bytes", True),
    ],
}


def _model_class() -> type:
    types = descriptor_pb2.FieldDescriptorProto
    scalar = {
        None: types.TYPE_STRING,
        "float": types.TYPE_FLOAT,
        "int64": types.TYPE_INT64,
        "bytes": types.TYPE_BYTES,
    }
    schema = descriptor_pb2.FileDescriptorProto(
        name="dockyard_onnx_subset.proto", package="dockyard_onnx_subset", syntax="proto2"
    )
    for message, fields in _FIELDS.items():
        described = schema.message_type.add(name=message)
        for name, number, kind, repeated in fields:
            field = described.field.add(name=name, number=number)
            field.label = types.LABEL_REPEATED if repeated else types.LABEL_OPTIONAL
            if kind in scalar:
                field.type = scalar[kind]
            else:
                field.type = types.TYPE_MESSAGE
                field.type_name = f".dockyard_onnx_subset.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    found = pool.FindMessageTypeByName("dockyard_onnx_subset.ModelProto")
    return message_factory.GetMessageClass(found)  # type: ignore[no-any-return]


def _ensemble_attributes(nodes: list[Any], input_name: str) -> dict[str, Any] | None:
    """The attributes of the graph's one node, if it is a tree ensemble fed from
    ``input_name`` with its thresholds as ``nodes_values``."""
    if len(nodes) != 1:
        return None
    [node] = nodes
    if node.domain != "ai.onnx.ml" or node.op_type not in _ENSEMBLES:
        return None
    attributes = {a.name: a for a in node.attribute}
    plain = "nodes_values" in attributes and "nodes_values_as_tensor" not in attributes
    return attributes if plain and list(node.input) == [input_name] else None


@dataclass(slots=True)
class TreeCells:
    """The thresholds of a tree ensemble, by feature (sorted, each feature's own)."""

    features: list[int]
    """The features some tree splits on; the others change no answer."""
    thresholds: list[np.ndarray]
    misses: int = 0
    paused: int = 0

    @classmethod
    def read(cls, path: Path, input_name: str) -> TreeCells | None:
        """The ensemble's cells if ``path`` is one tree ensemble fed from ``input_name``;
        ``None`` for any other graph, or with a protobuf older than 4.22 (2023)."""
        if not hasattr(message_factory, "GetMessageClass"):
            return None
        model = _model_class()()
        model.ParseFromString(path.read_bytes())
        attributes = _ensemble_attributes(list(model.graph.node), input_name)
        if attributes is None:
            return None
        modes = list(attributes["nodes_modes"].strings)
        features = np.asarray(attributes["nodes_featureids"].ints, dtype=np.int64)
        values = np.asarray(attributes["nodes_values"].floats, dtype=np.float32)
        if not len(modes) == len(features) == len(values) or not set(modes) <= _MODES:
            return None
        branch = np.asarray([mode != b"LEAF" for mode in modes], dtype=bool)
        used = sorted({int(f) for f in features[branch]})
        thresholds = [np.unique(values[branch & (features == f)]) for f in used]
        # Each feature's place: below, at or above each threshold (2n + 1 places).
        if math.prod(2 * len(t) + 1 for t in thresholds) > _MAX_KEYS:
            return None
        return cls(used, thresholds)

    def pick(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """For ``X`` (rows as fed to the model): the index of one row per cell, and each
        row's place among those; ``None`` when the rows should be scored as they are."""
        if len(X) < MIN_ROWS or X.ndim != 2:
            return None
        if self.paused:
            self.paused -= 1
            return None
        if np.isnan(X[:, self.features]).any():
            return None  # missing values take the trees' own missing-value branches
        places = [
            np.searchsorted(t, column, "left") + np.searchsorted(t, column, "right")
            for t, column in zip(
                (t.astype(X.dtype) for t in self.thresholds), X[:, self.features].T, strict=True
            )
        ]
        keys = np.ravel_multi_index(places, [2 * len(t) + 1 for t in self.thresholds])
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        if len(first) > _FEW_REPEATS * len(X):
            self.misses += 1
            if self.misses >= _MISSES:
                self.misses, self.paused = 0, _PAUSE
            return None
        self.misses = 0
        return first, inverse.reshape(-1)

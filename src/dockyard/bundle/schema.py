"""Infer a bundle's feature schema, input example and data fingerprint from training data."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dockyard.bundle.metadata import DataFingerprint, Feature, FeatureType, Scalar
from dockyard.errors import TrainingError

# Above this many distinct values a string column is treated as free text, not a category.
MAX_CATEGORIES = 1000


def as_frame(X: Any, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Training features as a DataFrame with string column names."""
    if isinstance(X, pd.DataFrame):
        frame = X
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise TrainingError(
                "feature_names disagrees with the DataFrame's columns; pass one or the other."
            )
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise TrainingError(
                f"X must be 2-dimensional (rows x features), got shape {array.shape}."
            )
        names = (
            list(feature_names)
            if feature_names is not None
            else [f"x{i}" for i in range(array.shape[1])]
        )
        if len(names) != array.shape[1]:
            raise TrainingError(f"{len(names)} feature names for {array.shape[1]} columns.")
        frame = pd.DataFrame(array, columns=names)
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.has_duplicates:
        raise TrainingError("Feature names must be unique.")
    if frame.empty:
        raise TrainingError("X has no rows.")
    return frame


def infer_features(frame: pd.DataFrame) -> list[Feature]:
    features: list[Feature] = []
    for name in frame.columns:
        column = frame[name]
        nullable = bool(column.isna().any())
        if pd.api.types.is_bool_dtype(column):
            features.append(Feature(name=name, type="boolean", nullable=nullable))
        elif pd.api.types.is_numeric_dtype(column):
            kind: FeatureType = "integer" if pd.api.types.is_integer_dtype(column) else "number"
            finite = column[np.isfinite(column.astype("float64"))]
            features.append(
                Feature(
                    name=name,
                    type=kind,
                    minimum=float(finite.min()) if len(finite) else None,
                    maximum=float(finite.max()) if len(finite) else None,
                    nullable=nullable,
                )
            )
        else:
            values = column.dropna().astype(str).unique()
            categories = sorted(values.tolist()) if len(values) <= MAX_CATEGORIES else None
            features.append(
                Feature(name=name, type="category", categories=categories, nullable=nullable)
            )
    return features


def _plain(value: Any, feature: Feature) -> Scalar:
    if feature.type == "category":
        return str(value)
    if feature.type == "boolean":
        return bool(value)
    if feature.type == "integer":
        return int(value)
    number = float(value)
    return round(number, 6) if math.isfinite(number) else 0.0


def input_example(
    frame: pd.DataFrame, features: Sequence[Feature], rows: int = 1
) -> list[dict[str, Scalar]]:
    """The first complete rows of the training data, as JSON-ready records."""
    complete = frame.dropna()
    if complete.empty:
        raise TrainingError(
            "Every training row has a missing value; cannot record an input example."
        )
    return [
        {f.name: _plain(record[f.name], f) for f in features}
        for record in complete.head(rows).to_dict(orient="records")
    ]


def fingerprint(frame: pd.DataFrame, y: Any) -> DataFingerprint:
    """A content hash of the training data: same data, same hash; any cell changed, new hash."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(
        pd.util.hash_pandas_object(pd.Series(np.asarray(y)), index=False).to_numpy().tobytes()
    )
    return DataFingerprint(sha256=digest.hexdigest(), rows=len(frame), columns=frame.shape[1])

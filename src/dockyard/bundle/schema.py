"""Infer a bundle's feature schema, input example and data fingerprint from training data."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dockyard.bundle.metadata import FEATURE_TYPES, DataFingerprint, Feature, FeatureType, Scalar
from dockyard.errors import TrainingError

# Above this many distinct values a string column is free text, unless declared a category.
MAX_CATEGORIES = 1000


def is_column(X: Any) -> bool:
    """Whether ``X`` is one one-dimensional column (a list, Series or 1-D array of values,
    e.g. the texts of ``make_pipeline(TfidfVectorizer(), ...).fit(texts, y)``)."""
    if isinstance(X, pd.DataFrame):
        return False
    return isinstance(X, pd.Series) or np.asarray(X).ndim == 1


def as_frame(X: Any, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Training features as a DataFrame with string column names; a one-dimensional ``X``
    becomes one column, named after the Series, ``feature_names`` or ``text``."""
    if isinstance(X, pd.DataFrame):
        frame = X
        if feature_names is not None and list(feature_names) != [str(c) for c in X.columns]:
            raise TrainingError(
                "feature_names disagrees with the DataFrame's columns; pass one or the other."
            )
    elif is_column(X):
        values = X.to_numpy() if isinstance(X, pd.Series) else np.asarray(X)
        series_name = X.name if isinstance(X, pd.Series) else None
        if feature_names is not None:
            if len(feature_names) != 1:
                raise TrainingError(
                    f"{len(feature_names)} feature names for one-dimensional X (one column)."
                )
            name = str(feature_names[0])
        elif series_name is not None:
            name = str(series_name)
        else:
            name = "text" if values.dtype.kind in "OUS" else "x0"
        frame = pd.DataFrame({name: values})
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise TrainingError(
                f"X must be one column or a table (rows x features), got shape {array.shape}."
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


def check_feature_types(declared: Mapping[str, str], columns: Sequence[str]) -> None:
    """Refuse a declared kind for a column X does not have, or a kind that does not exist."""
    for name, kind in declared.items():
        if name not in columns:
            raise TrainingError(
                f"feature_types names {name!r}, which is not a column of X; "
                f"the columns are: {', '.join(columns[:20])}{', …' if len(columns) > 20 else ''}."
            )
        if kind not in FEATURE_TYPES:
            raise TrainingError(
                f"feature_types[{name!r}] is {kind!r}; a feature's kind is one of: "
                f"{', '.join(FEATURE_TYPES)}."
            )


def _stored_kinds(column: pd.Series) -> tuple[str, tuple[FeatureType, ...]]:
    """What a column holds, and the kinds it may be declared as: the model keeps receiving
    the values it was fitted on, so a declared kind cannot turn text into numbers."""
    if pd.api.types.is_bool_dtype(column):
        return "true/false values", ("boolean",)
    if pd.api.types.is_numeric_dtype(column):
        return "numbers", ("number", "integer")
    return "strings", ("category", "text")


def infer_features(
    frame: pd.DataFrame,
    *,
    declared: Mapping[str, str] | None = None,
    text_columns: Collection[str] = (),
    open_columns: Collection[str] = (),
) -> list[Feature]:
    """The feature schema of ``frame``: a kind ``declared`` for a column wins; else a column
    the model feeds to a text vectorizer (``text_columns``) is ``text``; else the data
    decides: strings with up to :data:`MAX_CATEGORIES` distinct values are a ``category``
    (accepting unseen ones when in ``open_columns``), more are ``text``."""
    declared = declared or {}
    check_feature_types(declared, list(frame.columns))
    features: list[Feature] = []
    for name in frame.columns:
        column = frame[name]
        nullable = bool(column.isna().any())
        holds, allowed = _stored_kinds(column)
        kind = declared.get(name)
        if kind is not None and kind not in allowed:
            raise TrainingError(
                f"feature_types[{name!r}] is {kind!r}, but column {name!r} holds {holds}; "
                f"it can be declared {' or '.join(repr(k) for k in allowed)}."
            )
        if holds == "true/false values":
            features.append(Feature(name=name, type="boolean", nullable=nullable))
        elif holds == "numbers":
            features.append(_numeric(name, column, kind, nullable))
        else:
            values = column.dropna().astype(str).unique()
            if kind is None:
                text = name in text_columns or len(values) > MAX_CATEGORIES
                kind = "text" if text else "category"
            if kind == "text":
                features.append(Feature(name=name, type="text", nullable=nullable))
            else:
                features.append(
                    Feature(
                        name=name,
                        type="category",
                        categories=sorted(values.tolist()),
                        accepts_unknown=name in open_columns,
                        nullable=nullable,
                    )
                )
    return features


def _numeric(name: str, column: pd.Series, kind: str | None, nullable: bool) -> Feature:
    finite = column[np.isfinite(column.astype("float64"))]
    if kind is None:
        kind = "integer" if pd.api.types.is_integer_dtype(column) else "number"
    elif kind == "integer" and not bool((finite == np.round(finite)).all()):
        raise TrainingError(
            f"feature_types[{name!r}] is 'integer', but column {name!r} has fractional values."
        )
    return Feature(
        name=name,
        type="integer" if kind == "integer" else "number",
        minimum=float(finite.min()) if len(finite) else None,
        maximum=float(finite.max()) if len(finite) else None,
        nullable=nullable,
    )


def _plain(value: Any, feature: Feature) -> Scalar:
    if feature.type in ("category", "text"):
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

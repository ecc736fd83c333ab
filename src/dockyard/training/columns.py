"""What a fitted model does with each input column, read from its structure: which columns
it feeds to a text vectorizer (free text, whatever their cardinality) and which to an
encoder that tolerates categories it never saw (so serving may accept them too).

Only structure scikit-learn defines is read: ``Pipeline`` (its first real step sees the
input), ``ColumnTransformer`` (each transformer sees its columns), ``FeatureUnion`` (each
transformer sees everything). Anything else says nothing, and the data decides.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Literal

import numpy as np

Role = Literal["text", "open", "other"]

# Steps that hand their input columns on unchanged in meaning: the next step decides.
_TRANSPARENT = ("SimpleImputer",)


@dataclass(frozen=True, slots=True)
class ColumnRoles:
    text: frozenset[str]
    """Columns the model feeds to a text vectorizer."""
    open: frozenset[str]
    """Columns whose every consumer is an encoder that ignores unseen categories."""


def column_roles(model: Any, columns: Sequence[str]) -> ColumnRoles:
    """The roles of ``columns`` (the model's input, in order) for the fitted ``model``."""
    seen: dict[str, list[Role]] = {}
    for column, role in _roles(model, list(columns)):
        seen.setdefault(column, []).append(role)
    return ColumnRoles(
        text=frozenset(c for c, roles in seen.items() if "text" in roles),
        open=frozenset(c for c, roles in seen.items() if set(roles) == {"open"}),
    )


def _is(estimator: Any, *names: str) -> bool:
    return any(
        cls.__name__ in names and cls.__module__.startswith("sklearn.")
        for cls in type(estimator).__mro__
    )


def _roles(estimator: Any, columns: list[str]) -> Iterator[tuple[str, Role]]:
    if estimator is None or estimator == "drop":
        return
    if estimator == "passthrough":
        for column in columns:
            yield column, "other"
        return
    if _is(estimator, "Pipeline"):
        steps = [s for _, s in estimator.steps if s is not None and s != "passthrough"]
        for step in steps:
            if not _is(step, *_TRANSPARENT):
                yield from _roles(step, columns)
                return
        return
    if _is(estimator, "ColumnTransformer"):
        for _, transformer, selection in getattr(estimator, "transformers_", []):
            yield from _roles(transformer, _select(selection, columns))
        return
    if _is(estimator, "FeatureUnion"):
        for _, transformer in estimator.transformer_list:
            yield from _roles(transformer, columns)
        return
    role = _role(estimator)
    # A vectorizer reads one column of strings; given several it reads something else.
    if role != "text" or len(columns) == 1:
        for column in columns:
            yield column, role


def _role(estimator: Any) -> Role:
    if _is(estimator, "CountVectorizer", "HashingVectorizer"):  # TfidfVectorizer is a Count…
        return "text"
    handle = getattr(estimator, "handle_unknown", None)
    if _is(estimator, "OneHotEncoder"):
        return "open" if handle in ("ignore", "infrequent_if_exist", "warn") else "other"
    if _is(estimator, "OrdinalEncoder"):
        return "open" if handle == "use_encoded_value" else "other"
    if _is(estimator, "TargetEncoder"):
        return "open"  # unseen categories get the target's mean
    return "other"


def _index(item: object) -> int | None:
    """An integer position (Python or numpy), not a boolean."""
    if isinstance(item, bool) or not isinstance(item, Integral):
        return None
    return int(item)


def _select(selection: Any, columns: list[str]) -> list[str]:
    """A ColumnTransformer's column selection (name, index, list, slice, mask) as names;
    empty when it cannot be read (a callable), so nothing is concluded from it."""
    if isinstance(selection, str):
        return [selection] if selection in columns else []
    position = _index(selection)
    if position is not None:
        return [columns[position]] if -len(columns) <= position < len(columns) else []
    if isinstance(selection, slice):
        readable = all(
            _index(b) is not None or b is None for b in (selection.start, selection.stop)
        )
        return columns[selection] if readable else []
    try:
        items = list(selection)
    except TypeError:
        return []
    if items and all(isinstance(i, bool | np.bool_) for i in items) and len(items) == len(columns):
        return [c for c, keep in zip(columns, items, strict=True) if keep]
    names: list[str] = []
    for item in items:
        index = _index(item)
        if isinstance(item, str) and item in columns:
            names.append(item)
        elif index is not None and 0 <= index < len(columns):
            names.append(columns[index])
    return names


def encoder_categories(model: Any, columns: Sequence[str]) -> dict[str, list[str]]:
    """The categories the fitted encoders (``OneHotEncoder``, ``OrdinalEncoder``) learned for
    each input column they read directly, through the same structure as :func:`column_roles`;
    a column read by several encoders gets the categories they all know."""
    found: dict[str, list[set[str]]] = {}
    for column, categories in _encoded(model, list(columns)):
        found.setdefault(column, []).append(categories)
    return {c: sorted(set.intersection(*sets)) for c, sets in found.items()}


def _encoded(estimator: Any, columns: list[str]) -> Iterator[tuple[str, set[str]]]:
    if _is(estimator, "Pipeline"):
        steps = [s for _, s in estimator.steps if s is not None and s != "passthrough"]
        first = next((s for s in steps if not _is(s, *_TRANSPARENT)), None)
        if first is not None:
            yield from _encoded(first, columns)
    elif _is(estimator, "ColumnTransformer"):
        for _, transformer, selection in getattr(estimator, "transformers_", []):
            if transformer not in ("drop", "passthrough"):
                yield from _encoded(transformer, _select(selection, columns))
    elif _is(estimator, "FeatureUnion"):
        for _, transformer in estimator.transformer_list:
            yield from _encoded(transformer, columns)
    elif _is(estimator, "OneHotEncoder", "OrdinalEncoder"):
        learned = getattr(estimator, "categories_", None)
        if learned is not None and len(learned) == len(columns):
            for column, values in zip(columns, learned, strict=True):
                yield column, {str(v) for v in values if not _missing(v)}


def _missing(value: Any) -> bool:
    """None or NaN: an encoder's learned "missing" category, which is no category."""
    return value is None or (isinstance(value, float) and np.isnan(value))

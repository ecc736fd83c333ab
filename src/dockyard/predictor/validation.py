"""Input validation compiled once from a bundle's feature schema.

Each feature gets two converters, chosen at load time: one for JSON values (strict types:
a string is not a number) and one for text (query strings, CSV cells, V2 BYTES). Both
reject NaN and infinities, unknown categories (unless the model's encoder accepts them)
and missing values of features that had none in training, naming the field. A ``text``
feature takes any string.
Validation collects every problem (up to a cap) instead of stopping at the first.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dockyard.bundle.metadata import Feature
from dockyard.errors import FieldError, InvalidInput

MAX_ERRORS = 50
# Numbers beyond this magnitude are refused: no real measurement is that large, and
# values near the float limit overflow inside scalers and linear models. The OpenAPI
# schema states the same bound, so the contract and the behaviour agree.
MAX_MAGNITUDE = 1e15


class Invalid(Exception):
    """One value refused; carries the reason shown to the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_JSON_KINDS = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _kind(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _finite(number: float) -> float:
    if not math.isfinite(number):
        raise Invalid("must be a finite number, not NaN or infinity")
    if abs(number) > MAX_MAGNITUDE:
        raise Invalid(f"must be between -{MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}")
    return number


def _number_json(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return _finite(value)
    if kind is int:
        if abs(value) > MAX_MAGNITUDE:
            raise Invalid(f"must be between -{MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}")
        return float(value)
    raise Invalid(f"expected a number, got {_kind(value)}")


def _number_text(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise Invalid(f"expected a number, got {text[:40]!r}") from None
    return _finite(number)


def _integer_json(value: Any) -> float:
    kind = type(value)
    if kind is int or (kind is float and value.is_integer()):
        return _number_json(value)
    if kind is float:
        raise Invalid("expected an integer" if math.isfinite(value) else "must be finite")
    raise Invalid(f"expected an integer, got {_kind(value)}")


def _integer_text(text: str) -> float:
    try:
        return _integer_json(int(text))
    except ValueError:
        pass
    number = _number_text(text)
    if not number.is_integer():
        raise Invalid(f"expected an integer, got {text[:40]!r}")
    return number


def _boolean_json(value: Any) -> float:
    if type(value) is bool:
        return 1.0 if value else 0.0
    raise Invalid(f"expected true or false, got {_kind(value)}")


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def _boolean_text(text: str) -> float:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return 1.0
    if lowered in _FALSE:
        return 0.0
    raise Invalid(f"expected true or false, got {text[:40]!r}")


class UnseenCategories:
    """How many values outside the training categories each open category feature
    accepted, by feature, since the last :meth:`drain` (for ``/metrics``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, feature: str) -> None:
        with self._lock:
            self._counts[feature] = self._counts.get(feature, 0) + 1

    def drain(self) -> dict[str, int]:
        """The counts so far; the tally starts again from zero."""
        with self._lock:
            counts, self._counts = self._counts, {}
        return counts


def _string(value: Any) -> str:
    if type(value) is not str:
        raise Invalid(f"expected a string, got {_kind(value)}")
    return value


def _text(value: str) -> str:
    return value


def _category(
    feature: Feature, unseen: UnseenCategories
) -> tuple[Callable[[Any], Any], Callable[[str], Any]]:
    categories = frozenset(feature.categories or ())
    name = feature.name
    if feature.accepts_unknown:
        # The model's encoder ignores categories it never saw, so they are accepted as
        # the model accepts them; counted so a drifting input shows in /metrics.
        def text(value: str) -> str:
            if value not in categories:
                unseen.add(name)
            return value

    else:
        shown = ", ".join(sorted(categories)[:10])
        more = ", …" if len(categories) > 10 else ""

        def text(value: str) -> str:
            if value not in categories:
                raise Invalid(f"unknown category {value[:40]!r}; expected one of: {shown}{more}")
            return value

    def json(value: Any) -> str:
        return text(_string(value))

    return json, text


@dataclass(frozen=True, slots=True)
class CompiledFeature:
    name: str
    from_json: Callable[[Any], Any]
    from_text: Callable[[str], Any]
    nullable: bool
    numeric: bool

    @property
    def null(self) -> Any:
        return math.nan if self.numeric else None


def compile_feature(feature: Feature, unseen: UnseenCategories | None = None) -> CompiledFeature:
    pairs: dict[str, tuple[Callable[[Any], Any], Callable[[str], Any]]] = {
        "number": (_number_json, _number_text),
        "integer": (_integer_json, _integer_text),
        "boolean": (_boolean_json, _boolean_text),
    }
    if feature.type == "category":
        json, text = _category(feature, unseen or UnseenCategories())
        return CompiledFeature(feature.name, json, text, feature.nullable, numeric=False)
    if feature.type == "text":
        return CompiledFeature(feature.name, _string, _text, feature.nullable, numeric=False)
    json_fn, text_fn = pairs[feature.type]
    return CompiledFeature(feature.name, json_fn, text_fn, feature.nullable, numeric=True)


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, error: FieldError) -> None:
        self.items.append(error)
        if len(self.items) >= MAX_ERRORS:
            self.raise_()

    def raise_(self) -> None:
        if self.items:
            raise InvalidInput(self.items)


class Validator:
    """Turns caller input into validated feature columns, in model order."""

    def __init__(self, features: Sequence[Feature]) -> None:
        self.unseen = UnseenCategories()
        self.features = tuple(compile_feature(f, self.unseen) for f in features)
        self.names = tuple(f.name for f in self.features)
        self._name_set = frozenset(self.names)
        self._all_numbers = all(f.type == "number" for f in features)
        self._matrix_types = all(f.type in ("number", "integer") for f in features)
        self._integer = np.array([f.type == "integer" for f in features], dtype=bool)

    def passes_matrix(self, X: np.ndarray) -> bool:
        """Whether every value of ``X`` (float64, ``(rows, features)`` in model order, as
        a numeric reader parsed it) passes the rules the text and JSON converters apply
        to numbers: finite, within ``MAX_MAGNITUDE``, whole for integer features. One
        vectorised check per chunk (CSV fast path, Arrow columns); when it is ``False``,
        the caller validates the values one by one (:meth:`text_columns`,
        :meth:`json_columns`), which words each refusal."""
        if not self._matrix_types or X.ndim != 2 or X.shape[1] != len(self.features):
            return False
        if X.size == 0:
            return True
        with np.errstate(invalid="ignore"):
            # False for NaN and infinities too.
            if not (np.abs(X) <= MAX_MAGNITUDE).all():
                return False
            whole = X[:, self._integer] if self._integer.any() else None
            return whole is None or bool((whole == np.trunc(whole)).all())

    def records(self, records: Sequence[Any]) -> list[list[Any]]:
        """JSON objects, one per row → columns. Unknown and missing keys are errors."""
        if self._all_numbers:
            plain = self._plain_numbers(records)
            if plain is not None:
                return plain
        columns: list[list[Any]] = [[] for _ in self.features]
        errors = _Errors()
        for row, record in enumerate(records):
            where = row if len(records) > 1 else None
            if type(record) is not dict:
                errors.add(
                    FieldError(
                        None, f"expected an object of feature values, got {_kind(record)}", row
                    )
                )
                continue
            if len(record) != len(self.names) or not self._name_set.issuperset(record):
                self._unknown(record, "unknown feature", errors, where)
            for feature, column in zip(self.features, columns, strict=True):
                value = record.get(feature.name, _MISSING)
                try:
                    if value is None or value is _MISSING:
                        column.append(self._null(feature, value))
                    else:
                        column.append(feature.from_json(value))
                except Invalid as exc:
                    errors.add(FieldError(feature.name, exc.reason, where))
        errors.raise_()
        return columns

    def _plain_numbers(self, records: Sequence[Any]) -> list[list[Any]] | None:
        """The common case, checked with no function call per value: every record has
        exactly the features, every value a JSON number within bounds. ``None`` as soon
        as anything else turns up; the general path then finds and words the problem."""
        names = self.names
        low, high = -MAX_MAGNITUDE, MAX_MAGNITUDE
        columns: list[list[Any]] = [[] for _ in names]
        for record in records:
            if type(record) is not dict or len(record) != len(names):
                return None
            for name, column in zip(names, columns, strict=True):
                value: Any = record.get(name)
                kind = type(value)
                # A chained comparison is false for NaN and infinities too.
                if kind is float and low <= value <= high:
                    column.append(value)
                elif kind is int and low <= value <= high:
                    column.append(float(value))
                else:
                    return None
        return columns

    def text_record(self, values: Mapping[str, str]) -> list[list[Any]]:
        """One record given as text (a query string)."""
        errors = _Errors()
        self._unknown(values, "unknown feature", errors)
        columns: list[list[Any]] = []
        for feature in self.features:
            text = values.get(feature.name)
            try:
                if text is None or text == "":
                    columns.append([self._null(feature, _MISSING if text is None else None)])
                else:
                    columns.append([feature.from_text(text)])
            except Invalid as exc:
                errors.add(FieldError(feature.name, exc.reason))
        errors.raise_()
        return columns

    def text_columns(self, columns: Sequence[Sequence[str]], *, first_line: int) -> list[list[Any]]:
        """Columns of text cells (CSV), in model order; errors name the file line."""
        out: list[list[Any]] = []
        errors = _Errors()
        for feature, cells in zip(self.features, columns, strict=True):
            convert = feature.from_text
            converted: list[Any] = []
            for offset, text in enumerate(cells):
                try:
                    converted.append(convert(text) if text != "" else self._null(feature, None))
                except Invalid as exc:
                    errors.add(FieldError(feature.name, exc.reason, line=first_line + offset))
            out.append(converted)
        errors.raise_()
        return out

    def json_columns(self, columns: Mapping[str, Iterable[Any]]) -> list[list[Any]]:
        """Named columns of JSON values (Open Inference Protocol tensors)."""
        errors = _Errors()
        self._unknown(columns, "unknown input; expected one tensor per feature", errors)
        out: list[list[Any]] = []
        for feature in self.features:
            values = columns.get(feature.name)
            if values is None:
                errors.add(FieldError(feature.name, "missing input tensor"))
                continue
            converted: list[Any] = []
            for row, value in enumerate(values):
                try:
                    if value is None:
                        converted.append(self._null(feature, None))
                    elif type(value) is str and feature.numeric:
                        converted.append(feature.from_text(value))
                    else:
                        converted.append(feature.from_json(value))
                except Invalid as exc:
                    errors.add(FieldError(feature.name, exc.reason, row))
            out.append(converted)
        errors.raise_()
        return out

    def _unknown(
        self, keys: Iterable[Any], reason: str, errors: _Errors, row: int | None = None
    ) -> None:
        for key in keys:
            if key not in self._name_set:
                errors.add(FieldError(str(key)[:100], reason, row))

    @staticmethod
    def _null(feature: CompiledFeature, value: Any) -> Any:
        # A nullable feature left out counts as missing, as null does.
        if feature.nullable:
            return feature.null
        if value is _MISSING:
            raise Invalid("missing")
        raise Invalid("is required and may not be null or empty")


_MISSING: Any = object()

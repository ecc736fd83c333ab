"""Vectorised parsing of plain decimal CSV cells, bit-for-bit as ``float()`` reads them.

The fast path of CSV scoring. Only cells of the form ``-?digits[.digits]`` with at most
15 digits are accepted: for those the decimal mantissa and 10**k are exact in float64, so
one IEEE division gives the correctly rounded value, the same double ``float(cell)``
returns. Anything else — quotes, spaces, letters, exponents, empty cells, a wrong number
of fields — returns ``None``, and the caller takes the exact (slower) path, which also
words the errors. This module only parses: whether the values are acceptable (range,
whole numbers) is the validator's question (``Validator.passes_matrix``).

Files written with one number format (every line the same length, with its commas, points
and signs in the same places, as ``np.savetxt`` or a fixed-precision export writes them)
take a shortcut: the layout is read from the first line, and the digits of every line are
then summed by column, with no per-byte bookkeeping.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_DIGITS = 15
_POW10 = 10.0 ** np.arange(MAX_DIGITS + 2)
# Byte classes: digits are their own value; then '.', '-', ',', newline, anything else.
_DOT, _MINUS, _COMMA, _NEWLINE, _OTHER = 10, 11, 12, 13, 14
_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CLASS[ord("0") : ord("9") + 1] = np.arange(10)
_CLASS[ord(".")] = _DOT
_CLASS[ord("-")] = _MINUS
_CLASS[ord(",")] = _COMMA
_CLASS[ord("\n")] = _NEWLINE
_PLAIN = b"0123456789.-,\n"
# bytes.translate tables: the class of each byte; its kind (every digit is one kind).
_CLASSES = _CLASS.tobytes()
_DIGIT = 0
_KINDS = np.where(_CLASS < _DOT, _DIGIT, _CLASS).astype(np.uint8).tobytes()
_DIGIT_KIND, _DOT_KIND, _MINUS_KIND = bytes([_DIGIT]), bytes([_DOT]), bytes([_MINUS])


def parse_lines(data: bytes, width: int, positions: Sequence[int]) -> np.ndarray | None:
    """``data``: whole lines, each ending in a newline, of ``width`` comma-separated fields.
    Returns the fields at ``positions`` as float64 ``(rows, len(positions))``, exactly as
    ``float()`` reads each, or ``None`` unless every field of every line is a plain
    decimal."""
    if not data.endswith(b"\n") or data.translate(None, _PLAIN):
        return None  # empty, unterminated, or a byte no plain decimal has
    if data.count(b",") != data.count(b"\n") * (width - 1):
        return None  # a line of another width: refused before any array is made
    out = _same_layout(data, width, positions)
    if out is None:
        out = _any_layout(data, width, positions)
    return out


def _same_layout(data: bytes, width: int, positions: Sequence[int]) -> np.ndarray | None:
    """The values, if every line has the first line's layout; otherwise ``None``."""
    length = data.index(b"\n") + 1
    rows, rest = divmod(len(data), length)
    kinds = data.translate(_KINDS)
    if rest or kinds != kinds[:length] * rows:
        return None
    fields = _layout(kinds[:length], width)
    if fields is None:
        return None
    lines = np.frombuffer(data, dtype=np.uint8).reshape(rows, length)
    selected = [fields[p] for p in positions]
    # Each selected digit column, as one contiguous row of digit values.
    digits = lines.T[[c for field in selected for c in field.columns]]
    digits -= ord("0")
    out = np.zeros((len(positions), rows))
    rows_of_digits = iter(digits)
    for value, field in zip(out, selected, strict=True):
        for digit in itertools.islice(rows_of_digits, len(field.columns)):
            # Exact: every partial sum is an integer below 10**15.
            np.multiply(value, 10, out=value)
            np.add(value, digit, out=value)
        np.divide(value, _POW10[field.decimals], out=value)
        if field.negative:
            np.negative(value, out=value)
    return out.T


@dataclass(frozen=True, slots=True)
class _Field:
    columns: list[int]
    """Where the field's digits are in the line."""
    decimals: int
    negative: bool


# Every chunk of a file has the same layout: with wide rows, finding it costs more than
# the chunk's arithmetic.
@functools.lru_cache(maxsize=8)
def _layout(kinds: bytes, width: int) -> tuple[_Field, ...] | None:
    """The fields of a line, from its byte kinds; ``None`` unless it is ``width`` plain
    decimals."""
    fields: list[_Field] = []
    start = 0
    for field in kinds[:-1].split(bytes([_COMMA])):
        body = field.removeprefix(_MINUS_KIND)
        count = body.count(_DIGIT_KIND)
        if not 0 < count <= MAX_DIGITS or body.count(_DOT_KIND) > 1 or _MINUS_KIND in body:
            return None
        columns = [start + i for i, kind in enumerate(field) if kind == _DIGIT]
        decimals = len(body) - body.index(_DOT_KIND) - 1 if _DOT_KIND in body else 0
        fields.append(_Field(columns, decimals, len(body) < len(field)))
        start += len(field) + 1
    return tuple(fields) if len(fields) == width else None


def _any_layout(data: bytes, width: int, positions: Sequence[int]) -> np.ndarray | None:
    cls = np.frombuffer(data.translate(_CLASSES), dtype=np.uint8)
    sep = cls >= _COMMA
    seps = np.flatnonzero(sep)
    fields = len(seps)
    if fields % width:
        return None
    rows = fields // width
    ending = cls[seps].reshape(rows, width)
    # Every line: width - 1 commas, then its newline.
    if (ending[:, -1] != _NEWLINE).any() or (ending[:, :-1] != _COMMA).any():
        return None
    digit = cls < _DOT
    seen = np.cumsum(digit, dtype=np.int32)  # digits up to and including each byte
    at_end = seen[seps]
    count = np.diff(at_end, prepend=0)
    if count.min() == 0 or count.max() > MAX_DIGITS:
        return None
    # The digits in file order, each with its power of ten: how many digits follow it in
    # its field. One sum per field (reduceat) gives the integer mantissa, exactly.
    powers = np.repeat(at_end, count)
    powers -= np.arange(1, len(powers) + 1, dtype=np.int32)
    terms = np.compress(digit, cls) * _POW10.take(powers)
    owner = np.repeat(np.arange(fields, dtype=np.int32), count)
    mantissa = np.bincount(owner, weights=terms, minlength=fields)
    decimals = np.zeros(fields, dtype=np.int32)
    negative = np.zeros(fields, dtype=bool)
    marks = np.flatnonzero((cls == _DOT) | (cls == _MINUS))
    if len(marks):
        owner = np.cumsum(sep, dtype=np.int32)[marks]  # separators before: the mark's field
        dots = cls[marks] == _DOT
        dot_field = owner[dots]
        if len(dot_field) and (np.diff(dot_field) == 0).any():
            return None  # two decimal points in one field
        decimals[dot_field] = at_end[dot_field] - seen[marks[dots]]
        minus_at = marks[~dots]
        # A minus sign only as the first byte of its field.
        if len(minus_at) and not ((minus_at == 0) | sep[np.maximum(minus_at - 1, 0)]).all():
            return None
        negative[owner[~dots]] = True
    values = mantissa / _POW10[decimals]
    np.negative(values, out=values, where=negative)
    return values.reshape(rows, width)[:, list(positions)]

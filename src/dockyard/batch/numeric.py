"""Vectorised parsing of plain decimal CSV cells, bit-for-bit as ``float()`` reads them.

The fast path of CSV scoring. Only cells of the form ``-?digits[.digits]`` with at most
15 digits are accepted: for those the decimal mantissa and 10**k are exact in float64, so
one IEEE division gives the correctly rounded value, the same double ``float(cell)``
returns. Anything else — quotes, spaces, letters, exponents, empty cells, a wrong number
of fields, a value outside the accepted range — returns ``None``, and the caller takes the
exact (slower) path, which also words the errors.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def parse_lines(  # noqa: PLR0911 - each return is one way a chunk is declined
    data: bytes,
    width: int,
    positions: Sequence[int],
    *,
    integer: Sequence[bool],
    magnitude: float,
) -> np.ndarray | None:
    """``data``: whole lines, each ending in a newline, of ``width`` comma-separated fields.
    Returns the fields at ``positions`` as float64 ``(rows, len(positions))``, or ``None``
    unless every field of every line is a plain decimal, those at ``positions`` within
    ``magnitude`` (and integral where ``integer``)."""
    cls = _CLASS.take(np.frombuffer(data, dtype=np.uint8))
    if len(cls) == 0 or (cls == _OTHER).any():
        return None
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
    out = values.reshape(rows, width)[:, list(positions)]
    if np.abs(out).max() > magnitude:
        return None
    whole = np.asarray(integer, dtype=bool)
    if whole.any() and (out[:, whole] != np.trunc(out[:, whole])).any():
        return None
    return out

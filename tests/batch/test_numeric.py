from __future__ import annotations

import numpy as np
import pytest

from dockyard.batch.numeric import parse_lines


def parse(text: bytes, width: int = 2, positions: tuple[int, ...] = (0, 1), **kw: object):  # type: ignore[no-untyped-def]
    options = {"integer": [False] * len(positions), "magnitude": 1e15, **kw}
    return parse_lines(text, width, positions, **options)  # type: ignore[arg-type]


def test_reads_plain_decimals_exactly_as_float_does() -> None:
    rng = np.random.default_rng(0)
    cells = [
        f"{'-' if rng.random() < 0.3 else ''}{rng.integers(0, 10**6)}.{rng.integers(0, 10**8):08d}"
        for _ in range(2000)
    ] + ["0", "-0", "007", "5.", ".5", "-.25", "123456789012345", "0.00000000000001"]
    cells = cells[: len(cells) // 2 * 2]
    text = "".join(f"{a},{b}\n" for a, b in zip(cells[::2], cells[1::2], strict=True)).encode()
    parsed = parse(text)
    assert parsed is not None
    expected = np.array([float(c) for c in cells]).reshape(-1, 2)
    assert parsed.tobytes() == expected.tobytes()  # bit for bit, signs of zero included


def test_selects_and_orders_columns() -> None:
    parsed = parse(b"1,2,3\n4,5,6\n", width=3, positions=(2, 0))
    assert parsed is not None
    assert parsed.tolist() == [[3.0, 1.0], [6.0, 4.0]]


@pytest.mark.parametrize(
    "text",
    [
        b"1e5,1\n",  # exponent
        b" 1,2\n",  # space
        b"+1,2\n",  # plus sign
        b"1,\n",  # empty cell
        b"1,-\n",  # sign alone
        b"1,2-\n",  # sign inside
        b"--1,2\n",
        b"1.2.3,4\n",
        b"nan,1\n",
        b"1,2,3\n",  # too many fields
        b"1\n",  # too few
        b"1,2\n3\n4,5\n",  # ragged in the middle
        b"1,2",  # no final newline
        b"1234567890123456,1\n",  # sixteen digits
        b"",
    ],
)
def test_declines_anything_else(text: bytes) -> None:
    assert parse(text) is None


def test_range_and_integers() -> None:
    assert parse(b"1000000000000001,1\n", magnitude=1e15) is None
    assert parse(b"2.5,1\n", integer=[True, False]) is None
    parsed = parse(b"2.0,1.5\n", integer=[True, False])
    assert parsed is not None
    assert parsed.tolist() == [[2.0, 1.5]]

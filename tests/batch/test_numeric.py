from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from dockyard.batch.numeric import parse_lines


def parse(text: bytes, width: int = 2, positions: tuple[int, ...] = (0, 1)) -> np.ndarray | None:
    return parse_lines(text, width, positions)


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


def test_only_parses_the_validator_judges_the_values() -> None:
    # Fractions in an integer feature and the range are Validator.passes_matrix's rules.
    parsed = parse(b"2.5,999999999999999\n")
    assert parsed is not None
    assert parsed.tolist() == [[2.5, 999999999999999.0]]


def test_lines_of_one_layout_read_exactly_as_float_does() -> None:
    # Every line the same length, its points and signs in the same places (as np.savetxt
    # writes): the column-wise shortcut, which must agree with float() to the bit.
    rng = np.random.default_rng(1)
    shapes = ["-ddd.dd", "d.ddddddddddddd", "ddddddddddddddd", "-d.d", ".dd", "dd.", "d"]
    lines = [
        ",".join("".join(str(rng.integers(10)) if c == "d" else c for c in s) for s in shapes)
        for _ in range(500)
    ]
    lines[7] = "-000.00,0.0000000000000,000000000000000,-0.0,.00,00.,0"
    text = "".join(f"{line}\n" for line in lines).encode()
    order = (4, 0, 6, 2, 3, 1, 5)
    parsed = parse(text, width=len(shapes), positions=order)
    assert parsed is not None
    expected = np.array([[float(line.split(",")[i]) for i in order] for line in lines])
    assert parsed.tobytes() == expected.tobytes()  # signs of zero included


@pytest.mark.parametrize(
    "text",
    [
        b"7-8,9\n1-2,3\n",  # a sign inside
        b"7..,9\n1..,3\n",  # two points
        b"-.,89\n-.,12\n",  # no digit
        b"7.8,\n1.2,\n",  # empty
        b"1,2,3\n4,5,6\n",  # too many fields
        b"1.2,3\n4.5,6\n7.8,9\n1.2,3",  # the last line unterminated
    ],
)
def test_declines_lines_of_one_layout_that_are_not_plain_decimals(text: bytes) -> None:
    assert parse(text) is None


def test_lines_of_one_layout_are_only_parsed() -> None:
    parsed = parse(b"2.5,1\n3.0,2\n")
    assert parsed is not None
    assert parsed.tolist() == [[2.5, 1.0], [3.0, 2.0]]


def _fastest(run: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.mark.parametrize(
    "line",
    [
        b"1,-22.5,333.25,4444.125\n",  # one layout
        b"1,-22.5,333.25,4444.125\n5.5,6,-7.75,8\n",  # layouts that vary line by line
        b"1" * 15 + b"," + b"-" + b"9" * 14 + b"," + b".5,5.\n",  # the longest digits
        b"1,2,3,4\n1,2,3,4,5\n",  # declined (a ragged line)
    ],
    ids=["one layout", "any layout", "long digits", "declined"],
)
def test_cost_grows_with_the_input_not_faster(line: bytes) -> None:
    # 10x the input may cost about 10x, never more: no quadratic step on hostile shapes.
    small, big = line * 2_000, line * 20_000
    small_time = _fastest(lambda: parse_lines(small, 4, (0, 1, 2, 3)))
    big_time = _fastest(lambda: parse_lines(big, 4, (0, 1, 2, 3)))
    assert big_time < 30 * small_time + 0.01, (small_time, big_time)

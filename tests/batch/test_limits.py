"""Hostile CSV shapes cost what their first few bytes do: a wide row, a wide header and a
giant field are refused before they are read in full, and wide rows are scored in chunks
bounded by bytes. Each is measured at two sizes; the bigger may not cost more."""

from __future__ import annotations

import csv
import gc
import io
import os
import time
import tracemalloc
from collections.abc import Callable

import pytest

from dockyard.batch import reading
from dockyard.batch.csv import score_csv
from dockyard.errors import BadRequest, DockyardError, InvalidInput
from dockyard.predictor import Predictor

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
MiB = 1 << 20


def scored(predictor: Predictor, data: bytes, chunk_rows: int = 10_000) -> str:
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(data), out, chunk_rows=chunk_rows)
    return out.getvalue()


def discarded(predictor: Predictor, data: bytes) -> None:
    """Score ``data`` with the output written away, as a server streams it out."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        score_csv(predictor, io.BytesIO(data), sink)


def cost(run: Callable[[], object], repeats: int = 3) -> tuple[float, int]:
    """(fastest wall time of ``repeats`` runs, peak traced memory of one run)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    gc.collect()
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return min(times), peak


def refused(predictor: Predictor, data: bytes, error: type[DockyardError]) -> Callable[[], None]:
    def run() -> None:
        with pytest.raises(error):
            scored(predictor, data)

    return run


def compare_refusals(small: Callable[[], None], big: Callable[[], None]) -> None:
    """A refusal at 10x the size costs about the same: it stops at the first bytes."""
    small_time, small_peak = cost(small)
    big_time, big_peak = cost(big)
    assert big_peak < 2 * small_peak + MiB, (small_peak, big_peak)
    assert big_peak < 16 * MiB, big_peak
    # Reading to the end would cost 10x; 5x leaves room for a busy machine.
    assert big_time < 5 * small_time + 0.05, (small_time, big_time)


@pytest.mark.parametrize("quoted", [False, True], ids=["fast path", "csv module"])
def test_a_row_with_millions_of_fields_is_refused_at_the_first(
    iris: Predictor, quoted: bool
) -> None:
    # A quote in the header sends the whole file through the csv module.
    header = HEADER.replace("sepal_length", '"sepal_length"') if quoted else HEADER

    def wide(fields: int) -> bytes:
        return f"{header}\n".encode() + b"1," * (fields - 1) + b"1\n"

    with pytest.raises(InvalidInput, match="line 2: has more than 4 fields, the header has 4"):
        scored(iris, wide(1_000_000))
    compare_refusals(
        refused(iris, wide(1_000_000), InvalidInput), refused(iris, wide(10_000_000), InvalidInput)
    )


def test_a_header_with_millions_of_columns_is_refused_at_the_limit(iris: Predictor) -> None:
    def header(columns: int) -> bytes:
        return b",".join([b"c"] * columns) + b"\n1\n"

    with pytest.raises(BadRequest, match="header has more than 10,000 columns"):
        scored(iris, header(1_000_000))
    compare_refusals(
        refused(iris, header(1_000_000), BadRequest), refused(iris, header(10_000_000), BadRequest)
    )


@pytest.mark.parametrize("where", ["header", "row"])
def test_a_giant_field_is_refused_before_it_is_read(iris: Predictor, where: str) -> None:
    def giant(size: int) -> bytes:
        field = b"x" * size
        if where == "header":
            return field + b"," + HEADER.encode() + b"\n"
        return f"note,{HEADER}\n".encode() + field + b",1,2,3,4\n"

    with pytest.raises(BadRequest, match="longer than 4,194,304 bytes"):
        scored(iris, giant(8 * MiB))
    compare_refusals(
        refused(iris, giant(8 * MiB), BadRequest), refused(iris, giant(80 * MiB), BadRequest)
    )


@pytest.mark.parametrize("quoted", [False, True], ids=["fast path", "csv module"])
def test_wide_rows_are_scored_in_chunks_bounded_by_bytes(iris: Predictor, quoted: bool) -> None:
    columns = [f"c{i}" for i in range(1000)]
    header = ",".join([*columns, HEADER])
    row = "1.5," * len(columns) + "5.1,3.5,1.4,0.2\n"  # 4 KB

    def rows(count: int) -> Callable[[], object]:
        first = row.replace("1.5", '"1.5"', 1) if quoted else row
        data = (f"{header}\n{first}" + row * (count - 1)).encode()
        return lambda: discarded(iris, data)

    # Several chunks and three times as many (and, on the fast path, several blocks):
    # the memory is that of one chunk (before: of the whole file).
    small = (3 if quoted else 8) * reading.CHUNK_BYTES // len(row)
    _, small_peak = cost(rows(small), repeats=1)
    _, big_peak = cost(rows(3 * small), repeats=1)
    assert big_peak < 1.4 * small_peak, (small_peak, big_peak)


def test_commas_in_quoted_fields_are_not_fields(iris: Predictor) -> None:
    note = '"' + "a, " * 100_000 + '"'
    multiline = '"' + "b,\n" * 50_000 + '"'
    text = f"note,{HEADER}\n{note},5.1,3.5,1.4,0.2\n{multiline},5.1,3.5,1.4,0.2\n"
    rows = scored(iris, text.encode())
    parsed = list(csv.reader(io.StringIO(rows)))
    assert [r[0] for r in parsed[1:]] == [note[1:-1], multiline[1:-1]]
    assert [r[5] for r in parsed[1:]] == ["setosa", "setosa"]
    for text, fields in [
        ('"a,""b",c,"d,e', 3),  # the last one still open
        ('x"y,z', 2),  # a quote inside an unquoted field is a character
        ('"",""""', 2),
        ("," * 100, 101),
    ]:
        for cut in range(len(text) + 1):  # wherever a piece ends
            counter = reading.FieldCounter()
            counter.feed(text[:cut])
            counter.feed(text[cut:])
            assert counter.fields == fields, (text, cut)


def test_a_long_quoted_field_full_of_commas_costs_its_length(iris: Predictor) -> None:
    def note(lines: int) -> Callable[[], object]:
        data = f"note,{HEADER}\n".encode() + b'"' + b",\n" * lines + b'",5.1,3.5,1.4,0.2\n'
        return lambda: scored(iris, data)

    small_time, _ = cost(note(20_000))
    big_time, _ = cost(note(200_000))
    assert big_time < 30 * small_time, (small_time, big_time)  # 100x if quadratic


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_long_lines_read_in_pieces_keep_their_line_numbers(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    monkeypatch.setattr(reading, "_PIECE", 8)
    # Lines of every length around the piece size, so that each ending falls on, just
    # before and just after a piece boundary.
    rows = [f'"{"x" * n}",5.1,3.5,1.4,0.2' for n in range(1, 30)]
    rows[-1] = rows[-1].replace("5.1", "oops")
    data = f"note,{HEADER}{ending}" + ending.join(rows) + ending
    with pytest.raises(InvalidInput) as exc:
        scored(iris, data.encode())
    assert [(e.line, e.field) for e in exc.value.errors] == [(30, "sepal_length")]
    good = data.replace("oops", "5.1")
    assert [r[0] for r in csv.reader(io.StringIO(scored(iris, good.encode())))][1:] == [
        "x" * n for n in range(1, 30)
    ]


def test_millions_of_blank_lines_cost_their_length(iris: Predictor) -> None:
    def blanks(count: int) -> Callable[[], object]:
        data = f"{HEADER}\n".encode() + b"\n" * count + b"5.1,3.5,1.4,0.2\n"
        return lambda: discarded(iris, data)

    small_time, small_peak = cost(blanks(200_000))
    big_time, big_peak = cost(blanks(2_000_000))
    assert big_time < 30 * small_time, (small_time, big_time)
    # At most one 4 MiB block of newlines is looked at, at some 25 bytes per line.
    assert big_peak < 128 * MiB, (small_peak, big_peak)

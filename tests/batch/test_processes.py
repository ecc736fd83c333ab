"""Scoring in forked processes: the serial bytes, row counts and errors."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dockyard.batch import fast as batch_fast
from dockyard.batch.csv import score_csv
from dockyard.errors import InvalidInput
from dockyard.predictor import Prediction, Predictor

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
ROWS = [f"{4 + i / 50:g},{3 + i % 7 / 10:g},{1 + i / 20:g},{i / 40:g}" for i in range(120)]
TEXT = HEADER + "\n" + "".join(f"{row}\n" for row in ROWS * 4)  # 480 rows


def to_file(
    predictor: Predictor, text: str, target: Path, *, chunk_rows: int, processes: int, **kw: Any
) -> int:
    with target.open("w", encoding="utf-8", newline="") as sink:
        return score_csv(
            predictor,
            io.BytesIO(text.encode()),
            sink,
            chunk_rows=chunk_rows,
            processes=processes,
            **kw,
        )


def serial(predictor: Predictor, text: str, chunk_rows: int) -> str:
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(text.encode()), out, chunk_rows=chunk_rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("chunk_rows", "processes", "children"), [(7, 2, 1), (40, 2, 1), (13, 3, 2), (1000, 2, 0)]
)
def test_same_bytes_as_serial(
    iris: Predictor,
    tmp_path: Path,
    forks: list[int],
    chunk_rows: int,
    processes: int,
    children: int,
) -> None:
    target = tmp_path / "out.csv"
    rows = to_file(iris, TEXT, target, chunk_rows=chunk_rows, processes=processes)
    assert rows == 480
    assert target.read_text() == serial(iris, TEXT, chunk_rows)
    assert len(forks) == children  # a single chunk forks nothing


def test_blank_lines_crlf_and_a_quote_late_in_the_file(iris: Predictor, tmp_path: Path) -> None:
    lines = TEXT.splitlines()
    lines[400] = '"' + lines[400].replace(",", '","') + '"'  # the csv module from here on
    text = "\r\n\r\n".join(lines) + "\r\n"
    target = tmp_path / "out.csv"
    assert to_file(iris, text, target, chunk_rows=30, processes=2) == 480
    assert target.read_text() == serial(iris, text, 30) == serial(iris, TEXT, 30)


@pytest.mark.parametrize("line", [301, 261])  # in a chunk scored by the child; by the parent
def test_errors_name_their_line_after_the_rows_before_them(
    iris: Predictor, tmp_path: Path, line: int
) -> None:
    lines = TEXT.splitlines()
    lines[line - 1] = "1,2,oops,4"
    text = "\n".join(lines) + "\n"
    outputs = []
    for processes in (1, 2):
        target = tmp_path / f"out-{processes}.csv"
        with pytest.raises(InvalidInput) as exc:
            to_file(iris, text, target, chunk_rows=40, processes=processes)
        assert [(e.line, e.field) for e in exc.value.errors] == [(line, "petal_length")]
        outputs.append(target.read_text())
    # Every chunk before the bad one is written, as in the serial path.
    assert outputs[0] == outputs[1]
    assert outputs[1].count("\n") == 1 + (line - 2) // 40 * 40


def test_row_counts_come_back_and_predictions_stay(iris: Predictor, tmp_path: Path) -> None:
    counts: list[int] = []
    to_file(iris, TEXT, tmp_path / "out.csv", chunk_rows=50, processes=2, on_rows=counts.append)
    assert counts == [50] * 9 + [30]
    with pytest.raises(ValueError, match="on_rows"):
        to_file(iris, TEXT, tmp_path / "out.csv", chunk_rows=50, processes=2, on_chunk=print)


def test_a_sink_without_a_file_descriptor_is_scored_serially(
    iris: Predictor, forks: list[int]
) -> None:
    out = io.StringIO()
    assert score_csv(iris, io.BytesIO(TEXT.encode()), out, chunk_rows=40, processes=2) == 480
    assert out.getvalue() == serial(iris, TEXT, 40)
    assert forks == []


def test_a_child_that_dies_is_an_error(
    iris: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    score: Callable[..., tuple[bytes, Prediction]] = batch_fast.FastScorer.score

    def dies_in_a_child(self: Any, job: Any) -> tuple[bytes, Prediction]:
        if os.getpid() != parent:
            os._exit(3)
        return score(self, job)

    monkeypatch.setattr(batch_fast.FastScorer, "score", dies_in_a_child)
    with pytest.raises(RuntimeError, match="ended unexpectedly"):
        to_file(iris, TEXT, tmp_path / "out.csv", chunk_rows=40, processes=2)


def test_two_bad_chunks_report_the_first_as_serial_does(iris: Predictor, tmp_path: Path) -> None:
    # With 40-row chunks and two processes, line 241 is in a child's chunk and line 261 in
    # the parent's next one: the parent's error must not overtake the child's.
    lines = TEXT.splitlines()
    for line in (241, 261):
        lines[line - 1] = lines[line - 1].replace(lines[line - 1].split(",")[0], "oops", 1)
    text = "\n".join(lines) + "\n"
    with pytest.raises(InvalidInput) as alone:
        serial(iris, text, 40)
    with pytest.raises(InvalidInput) as forked:
        to_file(iris, text, tmp_path / "out.csv", chunk_rows=40, processes=2)
    assert [e.line for e in alone.value.errors] == [241]
    assert [e.line for e in forked.value.errors] == [241]

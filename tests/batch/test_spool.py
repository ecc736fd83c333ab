"""Scoring a CSV once into a spool, for a server that must check every row first."""

from __future__ import annotations

import io

import pytest

from dockyard.batch.csv import iter_scored
from dockyard.batch.spool import score_to_spool
from dockyard.errors import InvalidInput
from dockyard.predictor import Prediction, Predictor

HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"
ROWS = "".join(f"{4 + i / 50:g},{3 + i % 7 / 10:g},{1 + i / 20:g},{i / 40:g}\n" for i in range(95))


def expected(predictor: Predictor, text: str) -> bytes:
    return b"".join(
        b for b, _, _ in iter_scored(predictor, io.BytesIO(text.encode()), chunk_rows=10)
    )


def test_scores_each_row_once_and_answers_whole(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    predict = iris.predict_matrix

    def counting(X: object) -> Prediction:
        calls.append(len(X))  # type: ignore[arg-type]
        return predict(X)  # type: ignore[arg-type]

    monkeypatch.setattr(iris, "predict_matrix", counting)
    seen: list[int] = []
    scored = score_to_spool(
        iris,
        io.BytesIO((HEADER + ROWS).encode()),
        chunk_rows=10,
        on_chunk=lambda p: seen.append(len(p)),
    )
    assert sum(calls) == 95  # every row predicted once
    assert seen == calls
    assert scored.rows == 95
    whole = scored.whole(1 << 20)
    monkeypatch.undo()
    assert whole == expected(iris, HEADER + ROWS)
    assert scored.size == len(whole)


def test_a_large_answer_streams_from_disk_in_blocks(iris: Predictor) -> None:
    text = HEADER + ROWS * 20
    scored = score_to_spool(iris, io.BytesIO(text.encode()), chunk_rows=100, memory_bytes=1024)
    assert scored.whole(scored.size - 1) is None  # too big to answer whole: still open
    blocks = list(scored.blocks(4096))
    assert {len(b) for b in blocks[:-1]} == {4096}
    assert b"".join(blocks) == expected(iris, text)


def test_a_bad_row_late_in_the_file_is_raised_before_any_answer(iris: Predictor) -> None:
    text = HEADER + ROWS + "5.1,3.5,oops,0.2\n"
    with pytest.raises(InvalidInput) as caught:
        score_to_spool(iris, io.BytesIO(text.encode()), chunk_rows=10)
    [error] = caught.value.errors
    assert (error.field, error.line) == ("petal_length", 97)


def test_runtime_column(iris: Predictor) -> None:
    scored = score_to_spool(iris, io.BytesIO((HEADER + ROWS).encode()), runtime_column=True)
    lines = (scored.whole(1 << 20) or b"").decode().splitlines()
    assert lines[0].endswith(",runtime")
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {iris.runtime}

from __future__ import annotations

import csv
import io

import pytest

from dockyard.batch.csv import score_csv
from dockyard.errors import BadRequest, InvalidInput
from dockyard.predictor import Predictor

HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def score(predictor: Predictor, text: str | bytes, chunk_rows: int = 2) -> list[list[str]]:
    data = text.encode() if isinstance(text, str) else text
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(data), out, chunk_rows=chunk_rows)
    return list(csv.reader(io.StringIO(out.getvalue())))


def test_rows_pass_through_with_predictions_appended(iris: Predictor) -> None:
    rows = score(
        iris,
        f'id,{HEADER},note\n7,5.1,3.5,1.4,0.2,"a, b"\n8,6.3,2.8,5.1,1.5,x\n9,5.9,3,4.2,1.5,y\n',
    )
    assert rows[0] == ["id", *HEADER.split(","), "note", *iris.output_columns]
    assert [r[0] for r in rows[1:]] == ["7", "8", "9"]
    assert rows[1][5] == "a, b"
    assert rows[1][6] == "setosa"
    assert abs(sum(float(v) for v in rows[1][7:]) - 1) < 1e-9


def test_columns_in_any_order_and_bom(iris: Predictor) -> None:
    rows = score(iris, "\ufeffpetal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n")
    assert rows[1][4] == "setosa"


def test_same_result_whatever_the_chunk_size(iris: Predictor) -> None:
    body = (
        HEADER
        + "\n"
        + "\n".join(f"{4 + i / 50},{3},{1 + i / 20},{i / 40}" for i in range(101))
        + "\n"
    )
    assert score(iris, body, chunk_rows=7) == score(iris, body, chunk_rows=1000)


def test_missing_column(iris: Predictor) -> None:
    with pytest.raises(InvalidInput, match=r"lacks feature column.*petal_width"):
        score(iris, "sepal_length,sepal_width,petal_length\n1,2,3\n")


def test_bad_cell_names_line_and_field(iris: Predictor) -> None:
    with pytest.raises(InvalidInput) as exc:
        score(iris, f"{HEADER}\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,oops,4\n", chunk_rows=2)
    assert [(e.line, e.field) for e in exc.value.errors] == [(5, "petal_length")]


def test_ragged_row(iris: Predictor) -> None:
    with pytest.raises(InvalidInput, match="line 3: has 3 fields, the header has 4"):
        score(iris, f"{HEADER}\n1,2,3,4\n1,2,3\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8"),
        (f"{HEADER},predicted_species\n".encode(), "already has column"),
        (f'{HEADER}\n"1,2,3,4\n'.encode(), "malformed"),
    ],
)
def test_bad_files(iris: Predictor, body: bytes, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        score(iris, body)


def test_header_only(iris: Predictor) -> None:
    assert score(iris, HEADER + "\n") == [[*HEADER.split(","), *iris.output_columns]]

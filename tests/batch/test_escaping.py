"""CSV injection: cells a spreadsheet would run as formulas come out escaped, in pass-
through columns, header names and labels; plain numbers stay numbers; the opt-out writes
every cell as it came. Duplicate feature columns are refused."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from dockyard.batch import writing
from dockyard.batch.csv import score_csv
from dockyard.cli.main import main
from dockyard.errors import BadRequest
from dockyard.predictor import Predictor

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
HOSTILE = [
    '=HYPERLINK("http://x")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "\tpadded",
    "\rreturned",
]


def scored(predictor: Predictor, text: str, *, escape: bool = True) -> str:
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(text.encode()), out, escape_formulas=escape)
    return out.getvalue()


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def hostile_file() -> str:
    lines = [f"{cell.replace(chr(34), chr(34) * 2)!s}" for cell in HOSTILE]
    rows = "".join(f'"{cell}",5.1,3.5,1.4,0.2\n' for cell in lines)
    return f'"=1+1",{HEADER}\n' + rows


@pytest.mark.parametrize("plain_numbers", [False, True], ids=["csv module", "fast path"])
def test_formula_cells_are_escaped_and_quoted(iris: Predictor, plain_numbers: bool) -> None:
    text = hostile_file()
    if plain_numbers:
        # Plain decimal lines first, so that the file starts on the vectorised path.
        text = "note," + HEADER + "\n" + "1,5.1,3.5,1.4,0.2\n" * 3 + text.split("\n", 1)[1]
    out = scored(iris, text)
    rows = table(out)
    cells = [row[0] for row in rows[1:] if row[0] != "1"]
    assert cells == ["'" + cell for cell in HOSTILE]
    # Quoted, as OWASP recommends: each escaped cell is written "'...".
    for cell in HOSTILE:
        assert "\"'" + cell.replace('"', '""') + '"' in out
    if not plain_numbers:
        assert rows[0][0] == "'=1+1"
    assert all(row[5] == "setosa" for row in rows[1:])


def test_plain_numbers_are_values_not_formulas(iris: Predictor) -> None:
    numbers = ["-1.5", "+3", "-2e-05", "-.5", "+1E+10", "-7."]
    text = f"delta,{HEADER}\n" + "".join(f"{n},5.1,3.5,1.4,0.2\n" for n in numbers)
    assert [row[0] for row in table(scored(iris, text))[1:]] == numbers
    # Not numbers: escaped.
    assert [writing.needs_escape(c) for c in ["-1+1", "-", "+", "-inf", "1-2", "-1_0"]] == [
        True,
        True,
        True,
        True,
        False,
        True,
    ]


def test_the_opt_out_writes_every_cell_as_it_came(iris: Predictor) -> None:
    rows = table(scored(iris, hostile_file(), escape=False))
    assert rows[0][0] == "=1+1"
    assert [row[0] for row in rows[1:]] == HOSTILE


def test_escaped_rows_read_back_like_the_csv_writer_wrote_them(iris: Predictor) -> None:
    row = ["=x", 'a "b", c', "line\nbreak", "", " a", "mid\rreturn", "-1.5"]
    text = writing.csv_text([row], escape=True)
    assert table(text) == [["'=x", *row[1:]]]
    assert table(writing.csv_text([row[1:5]], escape=True)) == [row[1:5]]


def test_labels_that_look_like_formulas_are_escaped() -> None:
    assert writing.label_cell("=cmd", True) == b',"\'=cmd",'
    assert writing.label_cell("=cmd", False, escape=False) == b",=cmd"
    assert writing.label_cell("setosa", False) == b",setosa"


@pytest.mark.parametrize(
    ("header", "name"),
    [(f"sepal_length,{HEADER}", "sepal_length"), (f"{HEADER}, petal_width ", "petal_width")],
)
def test_a_feature_column_named_twice_is_refused(iris: Predictor, header: str, name: str) -> None:
    with pytest.raises(BadRequest, match=rf"'{name}' is columns \d, \d"):
        scored(iris, f"{header}\n1,2,3,4,5\n")


def test_a_repeated_pass_through_column_is_copied(iris: Predictor) -> None:
    rows = table(scored(iris, f"id,{HEADER},id\na,5.1,3.5,1.4,0.2,b\n"))
    assert rows[1][:6] == ["a", "5.1", "3.5", "1.4", "0.2", "b"]


def test_dockyard_predict_escapes_unless_told_not_to(iris_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(hostile_file(), encoding="utf-8", newline="")
    escaped, raw = tmp_path / "escaped.csv", tmp_path / "raw.csv"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(escaped)]) == 0
    flag = "--no-escape-formulas"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(raw), flag]) == 0
    assert [r[0] for r in table(read(escaped))[1:]] == ["'" + c for c in HOSTILE]
    assert [r[0] for r in table(read(raw))[1:]] == HOSTILE

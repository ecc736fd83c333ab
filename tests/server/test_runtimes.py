"""Every answer says which runtime produced it: a header, a V2 parameter, a CSV column."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dockyard.cli.main import main
from dockyard.errors import ExitCode
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings

TEXT_CSV = {"content-type": "text/csv"}
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CSV = "id,sepal_length,sepal_width,petal_length,petal_width\n7,5.1,3.5,1.4,0.2\n8,6.7,3.0,5.2,2.3\n"


@pytest.fixture(scope="module")
def served(iris_bundle: Path, sentiment_bundle: Path) -> Iterator[TestClient]:
    # iris records its ONNX export; sentiment (text) records scikit-learn.
    predictors = [Predictor.from_path(iris_bundle), Predictor.from_path(sentiment_bundle)]
    assert [p.runtime for p in predictors] == ["onnx", "sklearn"]
    with TestClient(create_app(Settings(), predictors=predictors)) as client:
        yield client


def _v2(record: dict[str, float]) -> dict[str, object]:
    return {
        "inputs": [
            {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in record.items()
        ]
    }


def test_every_prediction_route_names_the_runtime(served: TestClient) -> None:
    answers = {
        "json": served.post("/v1/models/iris/predict", json=SETOSA),
        "batch": served.post("/v1/models/iris/predict", json={"instances": [SETOSA, SETOSA]}),
        "query": served.get("/v1/models/iris/predict", params=SETOSA),
        "csv": served.post("/v1/models/iris/predict/csv", content=CSV, headers=TEXT_CSV),
        "v2": served.post("/v2/models/iris/infer", json=_v2(SETOSA)),
        "v2 version": served.post("/v2/models/iris/versions/1.0.0/infer", json=_v2(SETOSA)),
        "refused": served.post("/v1/models/iris/predict", json={"sepal_length": "x"}),
    }
    assert {w: r.status_code for w, r in answers.items()} == {
        **{w: 200 for w in answers},
        "refused": 422,
    }
    for what, response in answers.items():
        assert response.headers.get("x-dockyard-runtime") == "onnx", what
    text = served.post("/v1/models/sentiment/predict", json={"text": "a fine film"})
    assert text.status_code == 200
    assert text.headers["x-dockyard-runtime"] == "sklearn"
    assert "x-dockyard-runtime" not in served.get("/healthz").headers


def test_v2_answers_carry_the_runtime_in_their_parameters(served: TestClient) -> None:
    body = served.post("/v2/models/iris/infer", json=_v2(SETOSA)).json()
    assert body["parameters"] == {"runtime": "onnx"}


def test_the_csv_runtime_column_is_added_on_request(served: TestClient) -> None:
    plain = served.post("/v1/models/iris/predict/csv", content=CSV, headers=TEXT_CSV).text
    tagged = served.post(
        "/v1/models/iris/predict/csv?runtime_column=true", content=CSV, headers=TEXT_CSV
    ).text
    plain_rows = list(csv.reader(io.StringIO(plain)))
    tagged_rows = list(csv.reader(io.StringIO(tagged)))
    assert "runtime" not in plain_rows[0]
    assert tagged_rows[0] == [*plain_rows[0], "runtime"]
    assert tagged_rows[1:] == [[*row, "onnx"] for row in plain_rows[1:]]
    off = served.post(
        "/v1/models/iris/predict/csv?runtime_column=false", content=CSV, headers=TEXT_CSV
    ).text
    assert off == plain


def test_a_bad_runtime_column_value_or_a_clash_is_a_client_error(served: TestClient) -> None:
    bad = served.post(
        "/v1/models/iris/predict/csv?runtime_column=maybe", content=CSV, headers=TEXT_CSV
    )
    assert bad.status_code == 400
    assert "runtime_column" in bad.json()["error"]
    clash = served.post(
        "/v1/models/iris/predict/csv?runtime_column=true",
        content=CSV.replace("id,", "runtime,"),
        headers=TEXT_CSV,
    )
    assert clash.status_code == 400
    assert "already has a column named 'runtime'" in clash.json()["error"]


@pytest.mark.parametrize("runtime", ["onnx", "sklearn"])
def test_dockyard_predict_adds_the_runtime_column(
    iris_bundle: Path, tmp_path: Path, runtime: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(CSV)
    output = tmp_path / "out.csv"
    code = main(
        [
            "predict", str(iris_bundle), str(source), "-o", str(output),
            "--runtime", runtime, "--runtime-column", "--processes", "2",
        ]
    )  # fmt: skip
    assert code == ExitCode.OK
    rows = list(csv.reader(io.StringIO(output.read_text())))
    assert rows[0][-1] == "runtime"
    assert [r[-1] for r in rows[1:]] == [runtime, runtime]
    assert [r[0] for r in rows[1:]] == ["7", "8"]


def test_runtime_blocks_add_the_column_to_scored_blocks_with_quoted_newlines() -> None:
    from dockyard.batch.runtime_column import runtime_blocks

    blocks = [(b"note,label\n", 0, None), (b'"two\nlines",a\nplain,b\n', 2, None)]
    out = list(runtime_blocks(blocks, "sklearn"))
    assert b"".join(b for b, _, _ in out) == (
        b'note,label,runtime\n"two\nlines",a,sklearn\nplain,b,sklearn\n'
    )
    assert [rows for _, rows, _ in out] == [0, 2]

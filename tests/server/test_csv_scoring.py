"""The CSV endpoint: small results answered whole, large ones streamed after every row is
checked; formula cells escaped unless the setting says not to; a feature named twice
refused."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server import v1 as v1_module
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import threads_scoring

HEADER = "sepal_length,sepal_width,petal_length,petal_width"
PATH = "/v1/models/iris/predict/csv"
CSV = {"content-type": "text/csv"}


def make_client(iris: Predictor, settings: Settings | None = None) -> TestClient:
    app = create_app(settings or Settings(), predictors=[iris])
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(iris: Predictor) -> Iterator[TestClient]:
    with make_client(iris) as test_client:
        yield test_client


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_a_large_result_streams_and_matches_the_whole_one(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = f"{HEADER}\n" + "5.1,3.5,1.4,0.2\n6.3,2.8,5.1,1.5\n" * 200
    whole = client.post(PATH, content=body, headers=CSV)
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(whole.content))
    monkeypatch.setattr(v1_module, "WHOLE_CSV_BYTES", 1000)
    streamed = client.post(PATH, content=body, headers=CSV)
    assert streamed.status_code == 200
    assert "content-length" not in streamed.headers
    assert streamed.headers["content-disposition"] == 'attachment; filename="iris-predictions.csv"'
    assert streamed.content == whole.content
    assert len(rows(streamed.text)) == 401


def test_a_late_error_in_a_large_file_is_still_a_clean_422(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(v1_module, "WHOLE_CSV_BYTES", 1000)
    body = f"{HEADER}\n" + "5.1,3.5,1.4,0.2\n" * 500 + "5.1,x,1.4,0.2\n"
    response = client.post(PATH, content=body, headers=CSV)
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "sepal_width", "reason": "expected a number, got 'x'", "line": 502}
    ]


HOSTILE = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\ry", "-1.5"]


def hostile_body() -> bytes:
    quoted = ['"' + cell.replace('"', '""') + '"' for cell in HOSTILE]
    return ('"=cmd",' + HEADER + "\n" + "".join(f"{q},5.1,3.5,1.4,0.2\n" for q in quoted)).encode()


@pytest.mark.parametrize("upload", [False, True], ids=["body", "page upload"])
def test_formula_cells_come_back_escaped(client: TestClient, upload: bool) -> None:
    if upload:  # as the model page sends it
        response = client.post(PATH, files={"file": ("in.csv", hostile_body(), "text/csv")})
    else:
        response = client.post(PATH, content=hostile_body(), headers=CSV)
    assert response.status_code == 200
    table = rows(response.text)
    assert table[0][0] == "'=cmd"
    assert [row[0] for row in table[1:]] == ["'" + c for c in HOSTILE[:-1]] + ["-1.5"]


def test_the_setting_turns_escaping_off(iris: Predictor) -> None:
    with make_client(iris, Settings(csv_escape_formulas=False)) as raw:
        response = raw.post(PATH, content=hostile_body(), headers=CSV)
    table = rows(response.text)
    assert table[0][0] == "=cmd"
    assert [row[0] for row in table[1:]] == HOSTILE


def test_a_feature_named_twice_is_a_400_naming_it(client: TestClient) -> None:
    response = client.post(PATH, content=f"petal_width,{HEADER}\n1,2,3,4,5\n", headers=CSV)
    assert response.status_code == 400
    assert "'petal_width' is columns 1, 5" in response.json()["error"]


def test_the_model_runs_in_threads_and_the_answer_is_local_scoring_s(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.batch import fast as batch_fast
    from dockyard.batch.csv import score_csv
    from dockyard.server import dataplane

    monkeypatch.setattr(dataplane, "CSV_THREADS", 2)
    monkeypatch.setattr(batch_fast, "MODEL_SHARE", 0.0)  # however cheap the model
    threads = threads_scoring(monkeypatch, iris)
    body = f"{HEADER}\n" + "".join(
        f"{4 + i / 100:g},3.{i % 9},1.{i % 7},0.{i % 5}\n" for i in range(500)
    )
    with make_client(iris, Settings(csv_chunk_rows=20)) as client:
        response = client.post(PATH, content=body, headers=CSV)
    assert response.status_code == 200
    assert any(name.startswith("dockyard-csv") for name in threads)
    local = io.StringIO()
    score_csv(iris, io.BytesIO(body.encode()), local, chunk_rows=20)
    assert response.text == local.getvalue()
    assert response.text.count("\n") == 501

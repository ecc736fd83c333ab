"""Every entry point reaches the model through the data plane: each request is heard
once by the observers, with its entry point and the request id its answer carries."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.predictor.events import PredictionEvent
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA

HEADER = ",".join(IRIS_SETOSA)
LINE = ",".join(str(v) for v in IRIS_SETOSA.values())


@pytest.mark.parametrize("fast", [True, False])
def test_each_entry_point_is_heard_once(iris: Predictor, fast: bool) -> None:
    heard: list[PredictionEvent] = []
    app = create_app(Settings(csv_chunk_rows=2), predictors=[iris], observers=[heard.append])
    if not fast:
        app.fast_path = None
    v2 = {
        "inputs": [
            {"name": k, "datatype": "FP64", "shape": [1], "data": [v]}
            for k, v in IRIS_SETOSA.items()
        ]
    }
    with TestClient(app) as client:
        answers = {
            "json": client.post("/v1/models/iris/predict", json=IRIS_SETOSA),
            "form": client.post(
                "/v1/models/iris/predict", json=IRIS_SETOSA, headers={"X-Dockyard-Entry": "form"}
            ),
            "query": client.get("/v1/models/iris/predict", params=IRIS_SETOSA),
            "csv": client.post(
                "/v1/models/iris/predict/csv",
                content=f"{HEADER}\n{LINE}\n{LINE}\n{LINE}\n",
                headers={"content-type": "text/csv"},
            ),
            "v2": client.post("/v2/models/iris/infer", json=v2),
        }
    assert {entry: a.status_code for entry, a in answers.items()} == dict.fromkeys(answers, 200)
    by_entry: dict[str, list[PredictionEvent]] = {}
    for event in heard:
        by_entry.setdefault(event.entry, []).append(event)
    assert sorted(by_entry) == sorted(answers)
    for entry, answer in answers.items():
        ids = {e.request_id for e in by_entry[entry]}
        assert ids == {answer.headers["x-request-id"]}, entry
    assert [(e.first_row, len(e.prediction or [])) for e in by_entry["csv"]] == [(0, 2), (2, 1)]
    assert all(e.status == 200 and e.predictor is iris for e in heard)


def test_a_refused_request_is_heard_with_its_status(iris: Predictor) -> None:
    heard: list[PredictionEvent] = []
    app = create_app(Settings(), predictors=[iris], observers=[heard.append])
    with TestClient(app) as client:
        answer = client.post("/v1/models/iris/predict", json={"sepal_length": "x"})
        bad_csv = client.post(
            "/v1/models/iris/predict/csv",
            content=f"{HEADER}\n{LINE}\nx,1,1,1\n",
            headers={"content-type": "text/csv"},
        )
    assert (answer.status_code, bad_csv.status_code) == (422, 422)
    assert (heard[0].entry, heard[0].status, heard[0].request_id) == (
        "json",
        422,
        answer.headers["x-request-id"],
    )
    assert heard[-1].entry == "csv"
    assert heard[-1].status == 422


def test_binary_tensors_are_heard_as_v2(iris: Predictor) -> None:
    import numpy as np

    heard: list[PredictionEvent] = []
    app = create_app(Settings(), predictors=[iris], observers=[heard.append])
    data = np.array([list(IRIS_SETOSA.values())], dtype=np.float64)
    raw = data.tobytes()
    document = (
        b'{"inputs":[{"name":"input","datatype":"FP64","shape":[1,4],'
        b'"parameters":{"binary_data_size":' + str(len(raw)).encode() + b"}}]}"
    )
    with TestClient(app) as client:
        answer = client.post(
            "/v2/models/iris/infer",
            content=document + raw,
            headers={
                "Inference-Header-Content-Length": str(len(document)),
                "content-type": "application/octet-stream",
            },
        )
    assert answer.status_code == 200, answer.text
    assert [e.entry for e in heard] == ["v2"]

"""POST /v1/models/{name}/feedback: true labels and values by request id, as JSON or CSV,
checked against the model and written to the prediction log's store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from dockyard.monitoring.store import Store
from dockyard.predictor import Predictor
from dockyard.server import feedback
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.monitoring.logstore import LoggedRow, SQLiteLog
from tests.server.conftest import request_cost

JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}


def logged(model: str, request_id: str, prediction: object, row: int = 0) -> LoggedRow:
    return LoggedRow(
        request_id, row, time.time(), model, "1.0.0", "0" * 64, "sklearn", "json", 200, 1.0,
        None, prediction, None,
    )  # fmt: skip


@pytest.fixture
def log(tmp_path: Path) -> Iterator[SQLiteLog]:
    store = SQLiteLog(tmp_path / "log.db")
    store.insert_predictions(
        [
            logged("iris", "r1", "setosa"),
            logged("iris", "r2", "virginica"),
            logged("iris", "r2", "virginica", row=1),
            logged("diabetes", "d1", 150.0),
        ]
    )
    yield store
    store.close()


@pytest.fixture
def client(predictors: list[Predictor], log: SQLiteLog) -> Iterator[TestClient]:
    settings = Settings(max_body_bytes=64 * 1024)
    with TestClient(create_app(settings, predictors=predictors, store=log)) as test_client:
        yield test_client


def truths(log: Store) -> list[tuple[str, int, str, object]]:
    with sqlite3.connect(log.backend.path) as db:  # type: ignore[attr-defined]
        found = db.execute("SELECT request_id, row, model, truth FROM feedback ORDER BY id")
        return [(r, n, m, json.loads(t)) for r, n, m, t in found.fetchall()]


def test_iris_labels_are_strings(iris: Predictor) -> None:
    # The tests below name iris's classes.
    assert iris.class_keys == ["setosa", "versicolor", "virginica"]


def test_json_labels_are_stored_and_matched(client: TestClient, log: SQLiteLog) -> None:
    items = [
        {"request_id": "r1", "label": "setosa"},
        {"request_id": "r2", "label": "versicolor", "row": 1},
        {"request_id": "unknown", "label": "virginica"},
    ]
    answer = client.post("/v1/models/iris/feedback", json=items)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 3, "matched": 2}
    assert truths(log) == [
        ("r1", 0, "iris", "setosa"),
        ("r2", 1, "iris", "versicolor"),
        ("unknown", 0, "iris", "virginica"),
    ]


def test_json_values_for_a_regressor(client: TestClient, log: SQLiteLog) -> None:
    answer = client.post("/v1/models/diabetes/feedback", json=[{"request_id": "d1", "value": 140}])
    assert answer.json() == {"received": 1, "matched": 1}
    assert truths(log) == [("d1", 0, "diabetes", 140.0)]


def test_csv_body_and_upload(client: TestClient, log: SQLiteLog) -> None:
    body = b"\xef\xbb\xbfid_kept,request_id,label,row\nx,r1,setosa,\n\ny,r2,virginica,1\n"
    answer = client.post("/v1/models/iris/feedback", content=body, headers=CSV)
    assert answer.json() == {"received": 2, "matched": 2}
    upload = client.post(
        "/v1/models/iris/feedback",
        files={"file": ("truth.csv", b"request_id,label\nr9,versicolor\n", "text/csv")},
    )
    assert upload.json() == {"received": 1, "matched": 0}
    assert [t[:2] for t in truths(log)] == [("r1", 0), ("r2", 1), ("r9", 0)]


def test_classes_compare_as_text(predictors: list[Predictor], tmp_path: Path) -> None:
    churn = next(p for p in predictors if p.name == "churn")
    truth = feedback.Truths(churn)
    assert truth.of("yes", text=True) == ("yes", None)
    _, reason = truth.of("maybe", text=False)
    assert reason == "'maybe' is not one of the model's classes (no, yes)"


def test_float_classes_take_equal_numbers(iris: Predictor) -> None:
    truth = feedback.Truths(iris)
    truth.classes, truth.numbers = {"2.0": 2.0, "true": True}, {2.0: 2.0}
    assert truth.of(2, text=False) == (2.0, None)
    assert truth.of("2", text=True) == (2.0, None)
    assert truth.of(True, text=False) == (True, None)
    assert truth.of("3", text=True)[1] is not None


@pytest.mark.parametrize(
    ("model", "items", "field", "reason"),
    [
        ("iris", [{"request_id": "r1", "label": "daisy"}], "label", "'daisy' is not one of"),
        ("iris", [{"request_id": "r1", "value": 1}], "value", "model 'iris' takes 'label'"),
        ("iris", [{"label": "setosa"}], "request_id", "expected a request id"),
        ("iris", [{"request_id": "r" * 129, "label": "setosa"}], "request_id", "1 to 128"),
        ("iris", [{"request_id": "r1", "label": "setosa", "row": -1}], "row", "0 or more"),
        ("iris", [{"request_id": "r1", "label": "setosa", "row": True}], "row", "0 or more"),
        ("iris", [{"request_id": "r1"}], "label", "required"),
        ("iris", [{"request_id": "r1", "label": "setosa", "extra": 1}], "extra", "unknown key"),
        ("iris", ["r1"], None, "expected an object"),
        ("diabetes", [{"request_id": "d1", "value": "140"}], "value", "expected a finite number"),
        ("diabetes", [{"request_id": "d1", "label": "x"}], "label", "takes 'value'"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_written(
    client: TestClient,
    log: SQLiteLog,
    model: str,
    items: list[object],
    field: str | None,
    reason: str,
) -> None:
    good = (
        {"request_id": "r1", "label": "setosa"}
        if model == "iris"
        else {"request_id": "d1", "value": 1}
    )
    answer = client.post(f"/v1/models/{model}/feedback", json=[good, *items])
    assert answer.status_code == 422, answer.text
    details = answer.json()["details"]
    assert details[0]["field"] == field
    assert details[0]["row"] == 1
    assert reason in details[0]["reason"]
    assert truths(log) == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b'{"request_id": "r1", "label": "setosa"}', 422, "expected an array"),
        (b"[]", 422, "no feedback items"),
        (b"[", 400, "not valid JSON"),
    ],
)
def test_bad_json_bodies(client: TestClient, body: bytes, status: int, words: str) -> None:
    answer = client.post("/v1/models/iris/feedback", content=body, headers=JSON)
    assert answer.status_code == status
    assert words in answer.text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"request_id,value\nr1,3\n", 422, "model 'iris' takes 'label', not 'value'"),
        (b"request_id,label,label\nr1,setosa,setosa\n", 422, "given more than once"),
        (b"request_id,label\n", 422, "no feedback rows"),
        (b"", 400, "empty"),
        (b"request_id,label\nr1,setosa\nr2\n", 422, "expected at least 2 cells"),
        (b"request_id,label\nr1,set\xffosa\n", 400, "not UTF-8"),
        (b"request_id,label\nr1,daisy\n", 422, '"line":2'),
    ],
)
def test_bad_csv_bodies(client: TestClient, body: bytes, status: int, words: str) -> None:
    answer = client.post("/v1/models/iris/feedback", content=body, headers=CSV)
    assert answer.status_code == status, answer.text
    assert words in answer.text


def test_limits(client: TestClient) -> None:
    rows = b"request_id,label\n" + b"r,setosa\n" * 8_000  # over 64 KiB
    assert client.post("/v1/models/iris/feedback", content=rows, headers=CSV).status_code == 413
    big = client.post("/v1/models/iris/feedback", content=b"[" + b" " * 70_000 + b"]", headers=JSON)
    assert big.status_code == 413
    assert (
        client.post(
            "/v1/models/iris/feedback", content=b"x", headers={"content-type": "image/png"}
        ).status_code
        == 415
    )
    assert client.post("/v1/models/nope/feedback", json=[]).status_code == 404


def test_more_than_max_items_is_413(predictors: list[Predictor], log: SQLiteLog) -> None:
    settings = Settings(max_body_bytes=4 << 20)
    items = orjson.dumps([{"request_id": "r", "label": "setosa"}] * (feedback.MAX_ITEMS + 1))
    csv = b"request_id,label\n" + b"r,setosa\n" * (feedback.MAX_ITEMS + 1)
    with TestClient(create_app(settings, predictors=predictors, store=log)) as client:
        assert (
            client.post("/v1/models/iris/feedback", content=items, headers=JSON).status_code == 413
        )
        refused = client.post("/v1/models/iris/feedback", content=csv, headers=CSV)
        assert refused.status_code == 413
        assert "10,000" in refused.json()["error"]


def test_without_a_log_feedback_is_refused_naming_the_setting(predictors: list[Predictor]) -> None:
    with TestClient(create_app(Settings(), predictors=predictors)) as client:
        answer = client.post(
            "/v1/models/iris/feedback", json=[{"request_id": "r1", "label": "setosa"}]
        )
    assert answer.status_code == 409
    assert "DOCKYARD_PREDICTION_LOG" in answer.json()["error"]
    assert "--" not in answer.json()["error"]


def test_a_clustering_model_takes_no_feedback(
    unsupervised_bundles: dict[str, Path], log: SQLiteLog
) -> None:
    segments = Predictor.from_path(unsupervised_bundles["segments"])
    with TestClient(create_app(Settings(), predictors=[segments], store=log)) as client:
        answer = client.post("/v1/models/segments/feedback", json=[{"request_id": "r", "label": 1}])
    assert answer.status_code == 409
    assert "clustering model" in answer.json()["error"]


def test_the_api_key_applies(iris: Predictor, log: SQLiteLog) -> None:
    key = "k" * 24
    with TestClient(create_app(Settings(api_key=key), predictors=[iris], store=log)) as client:
        item = [{"request_id": "r1", "label": "setosa"}]
        assert client.post("/v1/models/iris/feedback", json=item).status_code == 401
        signed = client.post("/v1/models/iris/feedback", json=item, headers={"x-api-key": key})
    assert signed.json() == {"received": 1, "matched": 1}


# -- cost: ten times the input costs about ten times the time -------------------------------

SMALL = 1_000
RATIO = 30

CASES: dict[str, tuple[Callable[[TestClient, int], httpx.Response], int]] = {
    "json: many good items": (
        lambda c, n: c.post(
            "/v1/models/iris/feedback",
            content=orjson.dumps([{"request_id": f"r{i}", "label": "setosa"} for i in range(n)]),
            headers=JSON,
        ),
        200,
    ),
    "json: many keys in one item": (
        lambda c, n: c.post(
            "/v1/models/iris/feedback",
            content=orjson.dumps([{f"k{i}": 1 for i in range(n)}]),
            headers=JSON,
        ),
        422,
    ),
    "json: many bad items": (
        lambda c, n: c.post(
            "/v1/models/iris/feedback",
            content=orjson.dumps(
                [{"request_id": "r", "label": "setosa"}] * (n - 1) + [{"label": 1}]
            ),
            headers=JSON,
        ),
        422,
    ),
    "csv: many rows": (
        lambda c, n: c.post(
            "/v1/models/iris/feedback",
            content=b"request_id,label,row\n"
            + b"".join(b"r%d,virginica,%d\n" % (i, i % 3) for i in range(n)),
            headers=CSV,
        ),
        200,
    ),
    "csv: wide header": (
        lambda c, n: c.post(
            "/v1/models/iris/feedback",
            content=",".join(f"c{i}" for i in range(n)).encode() + b"\nx\n",
            headers=CSV,
        ),
        422,
    ),
}


class NullSink:
    """Takes feedback and writes nothing: the cost measured is the endpoint's."""

    def insert_feedback(self, items: object) -> int:
        return 0

    def window(self, model: str, since: float, until: float | None = None) -> list[LoggedRow]:
        return []

    def labelled(self, model: str, since: float) -> list[tuple[object, object]]:
        return []


@pytest.fixture(scope="module")
def cost_client(predictors: list[Predictor]) -> Iterator[TestClient]:
    settings = Settings(max_body_bytes=4 << 20)
    with TestClient(create_app(settings, predictors=predictors, store=NullSink())) as test_client:
        yield test_client


@pytest.mark.parametrize("case", CASES)
def test_ten_times_the_input_costs_about_ten_times_the_time(
    cost_client: TestClient, case: str
) -> None:
    build, status = CASES[case]
    small = request_cost(cost_client, build, SMALL, status)
    large = request_cost(cost_client, build, 10 * SMALL, status)
    assert large < RATIO * small, f"{case}: {large * 1e3:.1f} ms vs {small * 1e3:.1f} ms"

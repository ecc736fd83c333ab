"""The v1 REST adapter: listing, JSON records, the query string, CSV, and what each refuses."""

from __future__ import annotations

import csv
import io
import json

import pytest
from starlette.testclient import TestClient

from tests.conftest import IRIS_SETOSA

CSV_HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def test_list_models(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    names = [m["name"] for m in body["models"]]
    assert names == ["iris", "wine", "churn", "diabetes"]
    iris = body["models"][0]
    assert iris["metric"]["name"] == "accuracy"
    assert iris["links"]["predict"] == "/v1/models/iris/predict"


def test_model_detail(client: TestClient) -> None:
    body = client.get("/v1/models/iris").json()
    assert body["metadata"]["features"][0]["name"] == "sepal_length"
    assert body["metadata"]["environment"]["packages"]["scikit-learn"]
    assert len(body["bundle_sha256"]) == 64


def test_predict_one_record(client: TestClient) -> None:
    response = client.post("/v1/models/iris/predict", json=IRIS_SETOSA)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "iris"
    assert body["version"] == "1.0.0"
    assert body["predictions"][0]["label"] == "setosa"
    assert body["predictions"][0]["probabilities"]["setosa"] > 0.9


@pytest.mark.parametrize("shape", ["list", "instances"])
def test_predict_batches(client: TestClient, shape: str) -> None:
    records = [IRIS_SETOSA, {**IRIS_SETOSA, "petal_length": 6.0, "petal_width": 2.2}]
    payload = records if shape == "list" else {"instances": records}
    labels = [
        p["label"]
        for p in client.post("/v1/models/iris/predict", json=payload).json()["predictions"]
    ]
    assert labels == ["setosa", "virginica"]


def test_predict_query_string(client: TestClient) -> None:
    response = client.get("/v1/models/iris/predict", params=IRIS_SETOSA)
    assert response.json()["predictions"][0]["label"] == "setosa"


def test_query_string_errors(client: TestClient) -> None:
    response = client.get("/v1/models/iris/predict?sepal_length=abc&sepal_width=1&sepal_width=2")
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["details"]}
    assert fields == {"sepal_width"}
    response = client.get("/v1/models/iris/predict?sepal_length=abc")
    details = {d["field"]: d["reason"] for d in response.json()["details"]}
    assert details == {
        "sepal_length": "expected a number, got 'abc'",
        "sepal_width": "missing",
        "petal_length": "missing",
        "petal_width": "missing",
    }


def test_categorical_pipeline_and_regressor(client: TestClient) -> None:
    record = {"plan": "pro", "region": "east", "tenure_months": 60, "monthly_spend": 20.5}
    assert client.post("/v1/models/churn/predict", json=record).json()["predictions"][0][
        "label"
    ] in ("yes", "no")
    response = client.post("/v1/models/churn/predict", json={**record, "region": "mars"})
    assert response.status_code == 422
    assert response.json()["details"] == [
        {
            "field": "region",
            "reason": "unknown category 'mars'; expected one of: east, north, south, west",
        }
    ]
    diabetes = client.get("/v1/models/diabetes").json()["metadata"]["input_example"][0]
    value = client.post("/v1/models/diabetes/predict", json=diabetes).json()["predictions"][0][
        "value"
    ]
    assert 25 < value < 346


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({**IRIS_SETOSA, "sepal_length": "5.1"}, "sepal_length", "expected a number, got string"),
        ({k: v for k, v in IRIS_SETOSA.items() if k != "petal_width"}, "petal_width", "missing"),
        ({**IRIS_SETOSA, "colour": "blue"}, "colour", "unknown feature"),
        (
            {**IRIS_SETOSA, "sepal_width": None},
            "sepal_width",
            "is required and may not be null or empty",
        ),
        ({"instances": "nope"}, "instances", "expected an array of records"),
        ([], None, "no records to predict"),
        (42, None, 'expected a record object, an array of records or {"instances": [...]}'),
    ],
)
def test_422_names_field_and_reason(
    client: TestClient, payload: object, field: str | None, reason: str
) -> None:
    response = client.post("/v1/models/iris/predict", json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert {"field": field, "reason": reason} in body["details"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"1e309", b"-1e400"])
def test_non_finite_numbers_are_refused(client: TestClient, literal: bytes) -> None:
    body = (
        b'{"sepal_length": '
        + literal
        + b', "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    )
    response = client.post(
        "/v1/models/iris/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert "error" in response.json()


def test_out_of_range_overflow_is_a_422_not_a_500(client: TestClient) -> None:
    records = [{k: 1e308 for k in IRIS_SETOSA}, {k: -1e308 for k in IRIS_SETOSA}]
    response = client.post("/v1/models/iris/predict", json=records)
    assert response.status_code in (200, 422)


def test_unknown_model_and_route(client: TestClient) -> None:
    response = client.post("/v1/models/nope/predict", json=IRIS_SETOSA)
    assert response.status_code == 404
    assert response.json() == {
        "error": "No model named 'nope'. Served models: churn, diabetes, iris, wine.",
        "code": "model_not_found",
    }
    assert client.get("/nowhere").json()["code"] == "not_found"
    assert client.delete("/v1/models/iris/predict").status_code == 405


def test_malformed_json_and_content_types(client: TestClient) -> None:
    bad = client.post(
        "/v1/models/iris/predict", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "bad_request"
    invalid_utf8 = client.post(
        "/v1/models/iris/predict",
        content=b'{"a": "\xff"}',
        headers={"content-type": "application/json"},
    )
    assert invalid_utf8.status_code == 400
    form = client.post("/v1/models/iris/predict", data={"sepal_length": "1"})
    assert form.status_code == 415
    assert "application/json" in form.json()["error"]
    empty = client.post(
        "/v1/models/iris/predict", content=b"", headers={"content-type": "application/json"}
    )
    assert empty.status_code == 400


def test_a_csv_sent_for_json_is_pointed_at_the_csv_endpoint(client: TestClient) -> None:
    body = f"{CSV_HEADER}\n5.1,3.5,1.4,0.2\n".encode()
    refused = client.post(
        "/v1/models/iris/predict", content=body, headers={"content-type": "text/csv"}
    )
    assert refused.status_code == 415
    message = refused.json()["error"]
    assert "Send JSON" in message
    assert "/v1/models/iris/predict/csv" in message
    # Following the message works.
    scored = client.post(
        "/v1/models/iris/predict/csv", content=body, headers={"content-type": "text/csv"}
    )
    assert scored.status_code == 200


def test_deeply_nested_json_is_a_400(client: TestClient) -> None:
    body = b"[" * 5000 + b"]" * 5000
    response = client.post(
        "/v1/models/iris/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_body_limit(client: TestClient) -> None:
    body = json.dumps([IRIS_SETOSA] * 1000).encode()
    response = client.post(
        "/v1/models/iris/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_batch_row_limit(client: TestClient) -> None:
    response = client.post("/v1/models/iris/predict", json=[IRIS_SETOSA] * 501)
    assert response.status_code == 413
    assert "limit is 500" in response.json()["error"]


def test_csv_body_and_upload(client: TestClient) -> None:
    data = f"id,{CSV_HEADER}\n1,5.1,3.5,1.4,0.2\n2,6.3,2.8,5.1,1.5\n"
    for kwargs in (
        {"content": data.encode(), "headers": {"content-type": "text/csv"}},
        {"files": {"file": ("in.csv", data.encode(), "text/csv")}},
    ):
        response = client.post("/v1/models/iris/predict/csv", **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0][-4:] == [
            "predicted_species",
            "probability_setosa",
            "probability_versicolor",
            "probability_virginica",
        ]
        assert [r[0] for r in rows[1:]] == ["1", "2"]
        assert rows[1][5] == "setosa"


def test_csv_errors(client: TestClient) -> None:
    late_error = f"{CSV_HEADER}\n" + "5.1,3.5,1.4,0.2\n" * 50 + "5.1,x,1.4,0.2\n"
    response = client.post(
        "/v1/models/iris/predict/csv",
        content=late_error.encode(),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "sepal_width", "reason": "expected a number, got 'x'", "line": 52}
    ]
    assert client.post("/v1/models/iris/predict/csv", json={"a": 1}).status_code == 415
    no_file = client.post("/v1/models/iris/predict/csv", files={"other": ("a.csv", b"x")})
    assert no_file.status_code == 400
    big = (CSV_HEADER + "\n" + "5.1,3.5,1.4,0.2\n" * 20000).encode()
    assert (
        client.post(
            "/v1/models/iris/predict/csv", content=big, headers={"content-type": "text/csv"}
        ).status_code
        == 413
    )

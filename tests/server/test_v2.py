from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import IRIS_SETOSA

FEATURES = list(IRIS_SETOSA)


def infer(client: TestClient, model: str, payload: dict, **kwargs: object):
    return client.post(f"/v2/models/{model}/infer", json=payload, **kwargs)


def test_health_and_server_metadata(client: TestClient) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "dockyard"
    assert client.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/1.0.0/ready").status_code == 200
    assert client.get("/v2/models/iris/versions/9/ready").status_code == 404


def test_model_metadata(client: TestClient) -> None:
    meta = client.get("/v2/models/iris").json()
    assert meta["platform"] == "sklearn"
    assert [i["name"] for i in meta["inputs"]] == FEATURES
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]
    churn = client.get("/v2/models/churn").json()
    assert {i["name"]: i["datatype"] for i in churn["inputs"]}["plan"] == "BYTES"
    assert {i["name"]: i["datatype"] for i in churn["inputs"]}["tenure_months"] == "INT64"


def test_one_tensor_per_feature(client: TestClient) -> None:
    payload = {
        "id": "req-1",
        "inputs": [
            {"name": name, "shape": [2], "datatype": "FP32", "data": [value, value * 1.3]}
            for name, value in IRIS_SETOSA.items()
        ],
    }
    body = infer(client, "iris", payload).json()
    assert body["id"] == "req-1"
    assert body["model_name"] == "iris"
    assert body["model_version"] == "1.0.0"
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["predict"]["shape"] == [2]
    assert outputs["predict"]["data"][0] == "setosa"
    assert outputs["predict_proba"]["shape"] == [2, 3]
    assert len(outputs["predict_proba"]["data"]) == 6


def test_single_matrix_nested_data(client: TestClient) -> None:
    rows = [list(IRIS_SETOSA.values()), [6.3, 2.8, 5.1, 1.5]]
    payload = {
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": rows}],
        "outputs": [{"name": "predict"}],
    }
    body = infer(client, "iris", payload).json()
    assert [o["name"] for o in body["outputs"]] == ["predict"]
    assert body["outputs"][0]["data"][0] == "setosa"


def test_categorical_bytes_inputs(client: TestClient) -> None:
    record = {"plan": "basic", "region": "north", "tenure_months": 3, "monthly_spend": 80.0}
    types = {"plan": "BYTES", "region": "BYTES", "tenure_months": "INT64", "monthly_spend": "FP64"}
    payload = {
        "inputs": [
            {"name": k, "shape": [1], "datatype": types[k], "data": [v]} for k, v in record.items()
        ]
    }
    response = infer(client, "churn", payload)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"][0] in ("yes", "no")


def _binary_request(columns: dict[str, np.ndarray]) -> tuple[bytes, int]:
    header = {"inputs": [], "outputs": [{"name": "predict", "parameters": {"binary_data": False}}]}
    blobs = []
    for name, array in columns.items():
        raw = array.astype("<f4").tobytes()
        header["inputs"].append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": "FP32",
                "parameters": {"binary_data_size": len(raw)},
            }
        )
        blobs.append(raw)
    head = orjson.dumps(header)
    return head + b"".join(blobs), len(head)


def test_binary_tensor_extension(client: TestClient) -> None:
    body, header_length = _binary_request({k: np.array([v]) for k, v in IRIS_SETOSA.items()})
    response = client.post(
        "/v2/models/iris/infer",
        content=body,
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(header_length),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == ["setosa"]


def test_binary_bytes_elements(client: TestClient) -> None:
    def encode(values: list[str]) -> bytes:
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)

    plan, region = encode(["pro"]), encode(["west"])
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "plan",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(plan)},
                },
                {
                    "name": "region",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(region)},
                },
                {"name": "tenure_months", "shape": [1], "datatype": "INT64", "data": [12]},
                {"name": "monthly_spend", "shape": [1], "datatype": "FP64", "data": [42.0]},
            ]
        }
    )
    response = client.post(
        "/v2/models/churn/infer",
        content=header + plan + region,
        headers={"inference-header-content-length": str(len(header))},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({}, 422, "non-empty array of input tensors"),
        (
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]},
            422,
            "single input tensor must have shape [N, 4]",
        ),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3]}]},
            422,
            "needs 4 elements, got 3",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "COMPLEX", "data": [1, 2, 3, 4]}
                ]
            },
            422,
            "unsupported datatype",
        ),
        (
            {"inputs": [{"name": "x", "shape": [-1, 4], "datatype": "FP64", "data": []}]},
            422,
            "non-negative integers",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a", 1, 2, 3]}
                ]
            },
            422,
            "expected a number",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
                ],
                "outputs": [{"name": "zzz"}],
            },
            422,
            "unknown output",
        ),
        (
            {
                "inputs": [
                    {
                        "name": n,
                        "shape": [1 + (n == "sepal_width")],
                        "datatype": "FP64",
                        "data": [1] * (1 + (n == "sepal_width")),
                    }
                    for n in FEATURES
                ]
            },
            422,
            "rows",
        ),
        (
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": [1, 4],
                        "datatype": "FP64",
                        "parameters": {"binary_data_size": 32},
                    }
                ]
            },
            400,
            "binary_data_size",
        ),
        ([1, 2], 400, "JSON object"),
        (
            {
                "inputs": [
                    {"name": n, "shape": [0], "datatype": "FP64", "data": []} for n in FEATURES
                ]
            },
            422,
            "no rows to predict",
        ),
    ],
)
def test_bad_requests(client: TestClient, payload: object, status: int, text: str) -> None:
    response = client.post("/v2/models/iris/infer", json=payload)
    assert response.status_code == status, response.text
    assert text in response.text


def test_unknown_model_and_version(client: TestClient) -> None:
    assert client.post("/v2/models/nope/infer", json={}).status_code == 404
    assert client.get("/v2/models/iris/versions/2.0.0").status_code == 404
    response = client.post(
        "/v2/models/iris/versions/1.0.0/infer",
        json={
            "inputs": [
                {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        },
    )
    assert response.status_code == 200

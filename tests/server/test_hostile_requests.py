"""Requests a client can send that used to give a 500: each is now a 4xx whose body
names the field, and nothing is logged as a server error."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import DockyardApp, create_app
from dockyard.server.tensors import EXTRA_INPUTS
from dockyard.server.v1 import EXTRA_PARAMETERS
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA
from tests.server.conftest import post_scope

FEATURES = list(IRIS_SETOSA)
ROW = list(IRIS_SETOSA.values())
MATRIX = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ROW}


def _nested(depth: int) -> bytes:
    # By hand: orjson writes at most 254 levels, and reads up to 1024.
    head = b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": '
    return head + b"[" * depth + b"1.0" + b"]" * depth + b"}]}"


def _with(**fields: Any) -> dict[str, Any]:
    return {"inputs": [MATRIX], **fields}


def _tensor(**fields: Any) -> dict[str, Any]:
    return {"inputs": [{**MATRIX, **fields}]}


# payload -> (status, the field the error names)
V2_CASES: list[tuple[str, dict[str, Any] | bytes, int, str]] = [
    ("output name is an array", _with(outputs=[{"name": ["predict"]}]), 422, "outputs[0].name"),
    ("output is a string", _with(outputs=["predict"]), 422, "outputs[0]"),
    ("outputs is an object", _with(outputs={"name": "predict"}), 422, "outputs"),
    (
        "output parameters an array",
        _with(outputs=[{"name": "predict", "parameters": []}]),
        422,
        "outputs[0].parameters",
    ),
    ("id is a number", _with(id=5), 422, "id"),
    ("parameters is an array", _with(parameters=[1]), 422, "parameters"),
    ("datatype is an array", _tensor(datatype=["FP64"]), 422, "inputs[0].datatype"),
    ("datatype is an object", _tensor(datatype={"a": 1}), 422, "inputs[0].datatype"),
    ("name is a number", _tensor(name=3), 422, "inputs[0].name"),
    ("shape has nine dimensions", _tensor(shape=[1] * 9), 422, "inputs[0].shape"),
    ("shape is long", _tensor(shape=[2**31 - 1] * 5000, data=[]), 422, "inputs[0].shape"),
    ("shape has a float", _tensor(shape=[1, 4.0]), 422, "inputs[0].shape"),
    ("tensor parameters an array", _tensor(parameters=[]), 422, "inputs[0].parameters"),
    (
        "binary size a string",
        _tensor(parameters={"binary_data_size": "32"}),
        422,
        "inputs[0].parameters.binary_data_size",
    ),
    ("data 990 levels deep", _nested(990), 422, "inputs[0].data"),
    ("data deeper than shape", _tensor(data=[[ROW]]), 422, "inputs[0].data"),
    ("data a scalar", _tensor(shape=[1], data=5.1), 422, "inputs[0].data"),
    ("data an object", _tensor(data={"a": 1}), 422, "inputs[0].data"),
    (
        "too many inputs",
        {
            "inputs": [
                {"name": f"k{i}", "shape": [1], "datatype": "FP64", "data": [1]}
                for i in range(len(FEATURES) + EXTRA_INPUTS + 1)
            ]
        },
        422,
        "inputs",
    ),
    ("inputs an object", {"inputs": {"x": MATRIX}}, 422, "inputs"),
]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [case[1:] for case in V2_CASES],
    ids=[case[0] for case in V2_CASES],
)
def test_malformed_v2_requests_name_the_field(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    payload: dict[str, Any] | bytes,
    status: int,
    field: str,
) -> None:
    caplog.set_level(logging.ERROR)
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    response = client.post("/v2/models/iris/infer", content=body)
    assert response.status_code == status, response.text[:500]
    assert field in [d["field"] for d in response.json()["details"]], response.text[:500]
    assert not caplog.records


@pytest.mark.parametrize(
    "inputs",
    [
        [{**MATRIX, "data": [ROW]}],
        [{**MATRIX, "shape": [2, 4], "data": [ROW, ROW]}],
        [
            {"name": n, "shape": [1, 1], "datatype": "FP64", "data": [[v]]}
            for n, v in IRIS_SETOSA.items()
        ],
        [
            {"name": n, "shape": [1], "datatype": "FP64", "data": [v]}
            for n, v in IRIS_SETOSA.items()
        ],
    ],
    ids=["[1, 4] nested", "[2, 4] nested", "[1, 1] nested", "[1] flat"],
)
def test_data_nested_within_its_shape_is_accepted(
    client: TestClient, inputs: list[dict[str, Any]]
) -> None:
    response = client.post("/v2/models/iris/infer", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"][0] == "setosa"


def _raw(
    app: DockyardApp, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, Any]:
    """POST through the ASGI interface: header bytes exactly as given (an HTTP client
    would encode them), as a server hands them over."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(post_scope(path, headers), receive, send))
    return sent[0]["status"], orjson.loads(sent[1]["body"])


@pytest.fixture(scope="module")
def app(iris: Predictor) -> DockyardApp:
    return create_app(Settings(), predictors=[iris])


@pytest.mark.parametrize(
    "value",
    [b"\xb2", "\u00b2".encode(), b"1" * 5000, b"-1", b"+5", b" 5", b"0x10", b"99999999"],
    ids=[
        "superscript two (latin-1)",
        "superscript two (utf-8)",
        "5000 digits",
        "negative",
        "plus",
        "space",
        "hex",
        "past the body",
    ],
)
def test_bad_inference_header_content_length_is_a_400(
    app: DockyardApp, caplog: pytest.LogCaptureFixture, value: bytes
) -> None:
    caplog.set_level(logging.ERROR)
    headers = [(b"inference-header-content-length", value), (b"content-type", b"application/json")]
    status, body = _raw(app, "/v2/models/iris/infer", headers, orjson.dumps(_with()))
    assert status == 400, body
    assert "inference-header-content-length" in body["error"]
    assert not caplog.records


@pytest.mark.parametrize("value", [b"\xb2", b"1" * 5000])
@pytest.mark.parametrize("fast", [True, False])
def test_content_length_that_int_refuses_is_not_a_500(
    iris: Predictor, caplog: pytest.LogCaptureFixture, value: bytes, fast: bool
) -> None:
    app = create_app(Settings(), predictors=[iris])
    if not fast:
        app.fast_path = None
    caplog.set_level(logging.ERROR)
    headers = [(b"content-length", value), (b"content-type", b"application/json")]
    status, body = _raw(app, "/v1/models/iris/predict", headers, orjson.dumps(IRIS_SETOSA))
    # Not a number: the body's own length decides. Too many digits: over any limit.
    assert status == (413 if len(value) > 18 else 200), body
    assert not caplog.records


def test_binary_data_no_input_claims_is_a_400(client: TestClient) -> None:
    head = orjson.dumps(_with())
    response = client.post(
        "/v2/models/iris/infer",
        content=head + b"\x00" * 8,
        headers={"inference-header-content-length": str(len(head))},
    )
    assert response.status_code == 400
    assert "8 bytes of binary tensor data belong to no input" in response.json()["error"]


def test_binary_data_and_json_data_together_are_refused(client: TestClient) -> None:
    head = orjson.dumps(_tensor(parameters={"binary_data_size": 32}))
    response = client.post(
        "/v2/models/iris/infer",
        content=head + b"\x00" * 32,
        headers={"inference-header-content-length": str(len(head))},
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "inputs[0].data"


def test_an_output_asked_for_many_times_is_answered_once(client: TestClient) -> None:
    outputs = [{"name": "predict_proba"}, *[{"name": "predict"}] * 1000]
    response = client.post("/v2/models/iris/infer", json=_with(outputs=outputs))
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["predict_proba", "predict"]


def test_query_string_with_too_many_parameters(client: TestClient) -> None:
    limit = len(FEATURES) + EXTRA_PARAMETERS
    query = "&".join(f"{k}={v}" for k, v in IRIS_SETOSA.items())
    ok = client.get(f"/v1/models/iris/predict?{query}")
    assert ok.status_code == 200
    extra = "&".join(f"x{i}=1" for i in range(limit - len(FEATURES)))
    named = client.get(f"/v1/models/iris/predict?{query}&{extra}")
    assert named.status_code == 422
    assert {d["field"] for d in named.json()["details"]} >= {"x0", f"x{EXTRA_PARAMETERS - 1}"}
    refused = client.get(f"/v1/models/iris/predict?{query}&{extra}&one=1")
    assert refused.status_code == 422
    assert refused.json()["details"] == [
        {
            "field": None,
            "reason": f"{limit + 1} query parameters; this model takes 4 (one per feature)",
        }
    ]


def test_repeated_query_parameters_are_each_named_once(client: TestClient) -> None:
    query = "&".join(f"{k}={v}" for k, v in IRIS_SETOSA.items())
    response = client.get(f"/v1/models/iris/predict?{query}&sepal_width=1&sepal_width=2")
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "sepal_width", "reason": "given more than once"}
    ]

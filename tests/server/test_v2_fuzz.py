"""The Open Inference Protocol's binary extension and its header, under generated input:
never a 5xx, every response as documented.

The published OpenAPI document describes JSON requests; here schemathesis also gets the
binary form (an ``application/octet-stream`` body and the
``Inference-Header-Content-Length`` header) and schema-violating (negative) requests.
A second, structure-aware strategy builds binary requests that are almost right: a
real JSON header, tensors whose sizes, datatypes, shapes and header length are off by a
little, which random bytes would rarely reach."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import DockyardApp, create_app
from dockyard.server.tensors import DATATYPES, NUMPY_TYPES
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA

HEADER = "Inference-Header-Content-Length"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


@pytest.fixture(scope="module")
def app(bundles: Path) -> DockyardApp:
    predictors = [Predictor.from_path(bundles / n) for n in ("iris", "churn")]
    return create_app(Settings(max_batch_rows=50, max_body_bytes=64 * 1024), predictors=predictors)


@pytest.fixture(scope="module")
def fuzz_client(app: DockyardApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:  # runs the lifespan
        yield client


def _with_binary_form(document: dict[str, Any]) -> dict[str, Any]:
    """The V2 infer operations only, each also taking a binary body and the header."""
    document = copy.deepcopy(document)
    document["paths"] = {
        path: item
        for path, item in document["paths"].items()
        if path.startswith("/v2/models/") and path.endswith("/infer") and "/versions/" not in path
    }
    for item in document["paths"].values():
        operation = item["post"]
        operation["parameters"] = [
            {"name": HEADER, "in": "header", "required": False, "schema": {"type": "string"}}
        ]
        operation["requestBody"]["content"]["application/octet-stream"] = {
            "schema": {"type": "string", "format": "binary"}
        }
    return document


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_v2_binary_form_conforms(
    app: DockyardApp, fuzz_client: TestClient, mode: GenerationMode
) -> None:
    document = fuzz_client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(_with_binary_form(document))
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 2
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.label} ({mode}): {exc}") from exc


@st.composite
def binary_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, bytes]]:
    """An iris request in the binary form, each part right or a little wrong."""
    rows = draw(st.integers(0, 3))
    names = draw(
        st.one_of(
            st.just(list(IRIS_SETOSA)),
            st.lists(st.sampled_from([*IRIS_SETOSA, "x"]), min_size=1, max_size=6),
        )
    )
    inputs, blobs = [], []
    for name in names:
        datatype = draw(st.one_of(st.sampled_from(DATATYPES), st.sampled_from([["FP64"], 5])))
        shape = draw(
            st.sampled_from(
                [[rows], [rows, 1], [rows, 4], [1, rows, 1], [], [2**31 - 1] * 3000, ["1"]]
            )
        )
        if datatype == "BYTES":
            texts = draw(st.lists(st.sampled_from(["5.1", "", "x", "1e309"]), max_size=4))
            blob = b"".join(len(t).to_bytes(4, "little") + t.encode() for t in texts)
        elif not isinstance(datatype, str):
            blob = b"\x00" * 8 * rows
        else:
            values = draw(st.lists(st.floats(allow_nan=True), min_size=rows, max_size=rows))
            with np.errstate(all="ignore"):  # NaN and overflow in the cast are the point
                blob = np.asarray(values).astype(NUMPY_TYPES[datatype]).tobytes()
        blob = blob[: draw(st.integers(0, len(blob)))] if draw(st.booleans()) else blob
        size = draw(st.one_of(st.just(len(blob)), st.integers(-1, 64), st.just("8")))
        tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
        tensor["parameters"] = {"binary_data_size": size}
        if draw(st.booleans()):
            tensor["data"] = [1.0] * rows
        inputs.append(tensor)
        blobs.append(blob)
    outputs = draw(
        st.sampled_from(
            [[], [{"name": "predict"}] * 3, [{"name": ["predict"]}], ["predict"], {"name": 1}]
        )
    )
    head = orjson.dumps({"inputs": inputs, "outputs": outputs})
    length = draw(
        st.one_of(
            st.just(str(len(head)).encode()),
            st.integers(-2, len(head) + 8).map(lambda n: str(n).encode()),
            st.sampled_from([b"", b"\xb2", "\u00b2".encode(), b"0x10", b" 12", b"9" * 5000]),
        )
    )
    extra = draw(st.binary(max_size=8))
    return head + b"".join(blobs) + extra, {HEADER: length}


@given(request=binary_requests())
@FUZZ
def test_nearly_right_binary_requests_are_a_4xx_or_a_prediction(
    fuzz_client: TestClient, request: tuple[bytes, dict[str, bytes]]
) -> None:
    body, headers = request
    response = fuzz_client.post(
        "/v2/models/iris/infer",
        content=body,
        headers={**headers, "content-type": b"application/octet-stream"},
    )
    assert response.status_code in (200, 400, 413, 422), response.text
    if response.status_code != 200:
        assert response.json()["error"]

"""No parser does quadratic work: for every place a request is taken apart (query
string, JSON records, V2 inputs and outputs, binary tensor data, CSV header, sign-in
form), a hostile input ten times larger costs about ten times as much, not a hundred.

Each case is refused (a 4xx), and timed through the in-process client: the fixed cost of
a request only makes the ratio smaller, so a quadratic parser still stands out. The
minimum of a few repeats keeps a busy machine from failing the test."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.server.conftest import request_cost

SMALL = 1_000
RATIO = 30  # ten times the input may cost at most this many times the time
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(predictors: list[Predictor]) -> Iterator[TestClient]:
    # Limits high enough for the larger inputs: they must reach the parsers.
    settings = Settings(max_body_bytes=4 << 20, max_upload_bytes=4 << 20, max_batch_rows=5000)
    with TestClient(create_app(settings, predictors=predictors)) as test_client:
        yield test_client


def _v2(inputs: list[object], **extra: object) -> bytes:
    return orjson.dumps({"inputs": inputs, **extra})


def _fp64(name: str, n: int = 1) -> dict[str, object]:
    return {"name": name, "shape": [n], "datatype": "FP64", "data": [1.0] * n}


def _bytes_elements(n: int) -> bytes:
    return b"".join(struct.pack("<I", 1) + b"a" for _ in range(n))


# name -> (build a request of size n, expected status)
CASES: dict[str, tuple[Callable[[TestClient, int], httpx.Response], int]] = {
    "query: distinct names": (
        lambda c, n: c.get("/v1/models/iris/predict?" + "&".join(f"{i:x}" for i in range(n))),
        422,
    ),
    "query: one name repeated": (
        lambda c, n: c.get("/v1/models/iris/predict?" + "&".join("k=1" for _ in range(n))),
        422,
    ),
    "query: empty parameters": (
        lambda c, n: c.get("/v1/models/iris/predict?" + "&" * n),
        422,
    ),
    "json: many keys in a record": (
        lambda c, n: c.post(
            "/v1/models/iris/predict",
            content=orjson.dumps({f"k{i}": 1 for i in range(n)}),
            headers=JSON,
        ),
        422,
    ),
    "json: many keys beside instances": (
        lambda c, n: c.post(
            "/v1/models/iris/predict",
            content=orjson.dumps({"instances": [], **{f"k{i}": 1 for i in range(n)}}),
            headers=JSON,
        ),
        422,
    ),
    "json: many bad records": (
        lambda c, n: c.post(
            "/v1/models/iris/predict",
            content=orjson.dumps([{"x": i} for i in range(n // 10)]),
            headers=JSON,
        ),
        422,
    ),
    "v2: many inputs": (
        lambda c, n: c.post(
            "/v2/models/iris/infer", content=_v2([_fp64(f"k{i}") for i in range(n)]), headers=JSON
        ),
        422,
    ),
    "v2: one input name repeated": (
        lambda c, n: c.post(
            "/v2/models/iris/infer", content=_v2([_fp64("x") for _ in range(n)]), headers=JSON
        ),
        422,
    ),
    "v2: long shape": (
        lambda c, n: c.post(
            "/v2/models/iris/infer",
            content=_v2([{"name": "x", "shape": [2**31 - 1] * n, "datatype": "FP64", "data": []}]),
            headers=JSON,
        ),
        422,
    ),
    "v2: many outputs": (
        lambda c, n: c.post(
            "/v2/models/iris/infer",
            content=_v2([_fp64("x")], outputs=[{"name": f"o{i}"} for i in range(n)]),
            headers=JSON,
        ),
        422,
    ),
    "v2: data nested per element": (
        lambda c, n: c.post(
            "/v2/models/iris/infer",
            content=_v2([{"name": "x", "shape": [n], "datatype": "FP64", "data": [[1.0]] * n}]),
            headers=JSON,
        ),
        422,
    ),
    "v2: many binary BYTES elements": (
        lambda c, n: c.post(
            "/v2/models/iris/infer",
            content=(
                head := _v2(
                    [
                        {
                            "name": "sepal_length",
                            "shape": [1],
                            "datatype": "BYTES",
                            "parameters": {"binary_data_size": 5 * n},
                        }
                    ]
                )
            )
            + _bytes_elements(n),
            headers={"inference-header-content-length": str(len(head))},
        ),
        422,
    ),
    "csv: wide header": (
        lambda c, n: c.post(
            "/v1/models/iris/predict/csv",
            content=",".join(f"c{i}" for i in range(n)).encode() + b"\n",
            headers={"content-type": "text/csv"},
        ),
        422,
    ),
    "csv upload: many multipart fields": (
        lambda c, n: c.post(
            "/v1/models/iris/predict/csv",
            content=b"".join(
                b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n1\r\n' % i
                for i in range(n)
            )
            + b"--b--\r\n",
            headers={"content-type": "multipart/form-data; boundary=b"},
        ),
        400,
    ),
    "sign-in form: many fields": (
        lambda c, n: c.post(
            "/login",
            content="&".join(f"k{i}=1" for i in range(n)).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        400,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_ten_times_the_input_costs_about_ten_times_the_time(client: TestClient, case: str) -> None:
    build, status = CASES[case]
    small = request_cost(client, build, SMALL, status)
    large = request_cost(client, build, 10 * SMALL, status)
    assert large < RATIO * small, f"{case}: {large * 1e3:.1f} ms vs {small * 1e3:.1f} ms"

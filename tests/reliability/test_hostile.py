"""Malformed, oversized and slow inputs against a real server: each gets a 4xx within a
bounded time, memory stays bounded, and the server keeps answering everyone else."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IRIS_SETOSA
from tests.processes import Server, tree_rss_bytes

pytestmark = pytest.mark.slow
LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(iris_bundle: Path) -> Iterator[Server]:
    env = {
        "DOCKYARD_MAX_BODY_BYTES": str(LIMIT),
        "DOCKYARD_MAX_UPLOAD_BYTES": str(8 * LIMIT),
        "DOCKYARD_REQUEST_TIMEOUT": "2",
    }
    running = Server(iris_bundle, env=env)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def raw(
    server: Server, head: bytes, body: bytes = b"", *, trickle: float = 0.0, timeout: float = 15
) -> tuple[int, float]:
    """Send bytes over a fresh socket; return (status, seconds until the status line)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head)
        if trickle:
            try:
                for byte in body:
                    sock.sendall(bytes([byte]))
                    time.sleep(trickle)
                    if time.monotonic() - started > timeout:
                        break
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server gave up on us first, as it should
        else:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(body)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1") else 0
    return status, time.monotonic() - started


def post(path: str, content_type: str, length: int | None, extra: bytes = b"") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return head.encode() + extra + b"\r\n"


CSV_HEADER = b"sepal_length,sepal_width,petal_length,petal_width\n"
JSON = "application/json"
PREDICT = "/v1/models/iris/predict"
CORPUS: dict[str, tuple[str, str, bytes, tuple[int, ...]]] = {
    "invalid utf-8": (PREDICT, JSON, b'{"sepal_length": "\xff\xfe"}', (400,)),
    "1e309": (
        PREDICT,
        JSON,
        b'{"sepal_length": 1e309, "sepal_width": 1, "petal_length": 1, "petal_width": 1}',
        (400,),
    ),
    "deeply nested": (PREDICT, JSON, b"[" * 200_000 + b"]" * 200_000, (400, 413)),
    "huge array": (PREDICT, JSON, b"[" + b"1," * 300_000 + b"1]", (413,)),
    "huge string": (PREDICT, JSON, b'{"sepal_length": "' + b"a" * 900_000 + b'"}', (422,)),
    "many keys": (
        PREDICT,
        JSON,
        b"{" + b",".join(b'"k%d": 1' % i for i in range(50_000)) + b"}",
        (422,),
    ),
    "not json": (PREDICT, JSON, b"\x00\x01\x02garbage", (400,)),
    "null": (PREDICT, JSON, b"null", (422,)),
    "form body": (PREDICT, "application/x-www-form-urlencoded", b"sepal_length=1", (415,)),
    "xml": (PREDICT, "application/xml", b"<a/>", (415,)),
    "csv as json": (PREDICT, JSON, CSV_HEADER, (400,)),
    "million csv columns": (
        f"{PREDICT}/csv",
        "text/csv",
        b",".join([b"c"] * 1_000_000) + b"\n",
        (400, 422),
    ),
    "ragged csv": (f"{PREDICT}/csv", "text/csv", CSV_HEADER + b"1,2,3,4\n1,2\n", (422,)),
    "binary csv": (f"{PREDICT}/csv", "text/csv", b"\xff\xd8\xff\xe0" * 1000, (400,)),
    "unterminated quote": (
        f"{PREDICT}/csv",
        "text/csv",
        CSV_HEADER + b'"1,2,3,4\n' + b"x" * 2_000_000,
        (400,),
    ),
    "v2 giant shape": (
        "/v2/models/iris/infer",
        JSON,
        b'{"inputs": [{"name": "x", "shape": [2000000000, 4], "datatype": "FP64", "data": []}]}',
        (413, 422),
    ),
    "v2 lying binary size": (
        "/v2/models/iris/infer",
        JSON,
        b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "parameters": {"binary_data_size": 99999}}]}',
        (400,),
    ),
}


def test_hostile_corpus(server: Server) -> None:
    rss_before = tree_rss_bytes(server.pid)
    failures = []
    for name, (path, content_type, body, expected) in CORPUS.items():
        status, took = raw(server, post(path, content_type, len(body)), body)
        if status not in expected or took > 10:
            failures.append(f"{name}: {status} after {took:.1f}s (expected {expected})")
        assert (
            httpx.post(f"{server.url}{PREDICT}", json=IRIS_SETOSA, timeout=5).status_code == 200
        ), name
    assert not failures, failures
    growth = tree_rss_bytes(server.pid) - rss_before
    assert growth < 150 * 2**20, f"RSS grew by {growth / 2**20:.0f} MiB"


def test_body_over_the_limit_is_refused_before_it_is_read(server: Server) -> None:
    status, took = raw(server, post(PREDICT, JSON, 50 * LIMIT), b"")
    assert status == 413
    assert took < 5


def test_chunked_body_over_the_limit(server: Server) -> None:
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40)) + b"0\r\n\r\n"
    status, _ = raw(server, post(PREDICT, JSON, None, b"Transfer-Encoding: chunked\r\n"), body)
    assert status == 413


def test_trickling_client_gets_408(server: Server) -> None:
    body = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    status, took = raw(server, post(PREDICT, JSON, len(body)), body, trickle=0.2)
    assert status == 408
    assert took < 6
    assert httpx.post(f"{server.url}{PREDICT}", json=IRIS_SETOSA, timeout=5).status_code == 200


def test_many_idle_connections_do_not_block_others(server: Server) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(200)]
    try:
        assert httpx.post(f"{server.url}{PREDICT}", json=IRIS_SETOSA, timeout=5).status_code == 200
    finally:
        for sock in idle:
            sock.close()


V2 = "/v2/models/iris/infer"
V2_HEAD = b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"'
V2_ROW = V2_HEAD + b', "data": [5.1, 3.5, 1.4, 0.2]}]'
V2_BINARY = V2_HEAD + b', "parameters": {"binary_data_size": 32}}]}'
# name -> (extra header lines, body, expected statuses): the Open Inference Protocol's
# JSON fields and its binary extension, whose header bytes reach the app as sent.
V2_CORPUS: dict[str, tuple[bytes, bytes, tuple[int, ...]]] = {
    "header length '\xb2'": (b"Inference-Header-Content-Length: \xb2\r\n", V2_ROW + b"}", (400,)),
    "header length 5000 digits": (
        b"Inference-Header-Content-Length: " + b"9" * 5000 + b"\r\n",
        V2_ROW + b"}",
        (400, 431),
    ),
    "header length negative": (b"Inference-Header-Content-Length: -1\r\n", V2_ROW + b"}", (400,)),
    "header length past the body": (
        b"Inference-Header-Content-Length: 999999\r\n",
        V2_ROW + b"}",
        (400,),
    ),
    "binary shorter than declared": (
        b"Inference-Header-Content-Length: %d\r\n" % len(V2_BINARY),
        V2_BINARY + b"\x00" * 31,
        (400,),
    ),
    "binary left over": (
        b"Inference-Header-Content-Length: %d\r\n" % len(V2_BINARY),
        V2_BINARY + b"\x00" * 40,
        (400,),
    ),
    "binary NaN": (
        b"Inference-Header-Content-Length: %d\r\n" % len(V2_BINARY),
        V2_BINARY + b"\x00\x00\x00\x00\x00\x00\xf8\x7f" * 4,
        (422,),
    ),
    "binary BYTES truncated": (
        b"Inference-Header-Content-Length: %d\r\n" % len(V2_BINARY.replace(b"FP64", b"BYTES")),
        V2_BINARY.replace(b"FP64", b"BYTES") + b"\xff\xff\xff\xff" + b"a" * 28,
        (400,),
    ),
    "output name is a list": (b"", V2_ROW + b', "outputs": [{"name": ["predict"]}]}', (422,)),
    "datatype is a list": (b"", V2_ROW.replace(b'"FP64"', b'["FP64"]') + b"}", (422,)),
    "data 990 deep": (
        b"",
        V2_HEAD.replace(b"[1, 4]", b"[1]")
        + b', "data": '
        + b"[" * 990
        + b"1"
        + b"]" * 990
        + b"}]}",
        (422,),
    ),
    "shape 20000 long": (
        b"",
        V2_HEAD.replace(b"[1, 4]", b"[" + b"2147483647," * 20_000 + b"1]") + b', "data": []}]}',
        (422,),
    ),
    "10000 inputs": (
        b"",
        b'{"inputs": [' + b",".join([V2_ROW[12:-1]] * 10_000) + b"]}",
        (422,),
    ),
}


def test_hostile_v2_corpus(server: Server) -> None:
    failures = []
    for name, (extra, body, expected) in V2_CORPUS.items():
        status, took = raw(server, post(V2, JSON, len(body), extra), body)
        if status not in expected or took > 10:
            failures.append(f"{name}: {status} after {took:.1f}s (expected {expected})")
    assert not failures, failures
    assert httpx.post(f"{server.url}{PREDICT}", json=IRIS_SETOSA, timeout=5).status_code == 200

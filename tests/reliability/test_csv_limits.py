"""CSV uploads against a real server: whatever the shape of the file, a worker's memory
grows by at most 256 MiB while it is scored, and the only temporary file is the upload
itself (the scored output streams, never written to disk)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import Server, children, tree_rss_bytes

pytestmark = pytest.mark.slow
MiB = 1 << 20
HEADER = b"sepal_length,sepal_width,petal_length,petal_width"
PATH = "/v1/models/iris/predict/csv"
CSV = {"content-type": "text/csv"}


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def server(iris_bundle: Path, spool_dir: Path) -> Iterator[Server]:
    # A fresh server for each upload: memory one request freed would hide another's.
    running = Server(iris_bundle, env={"TMPDIR": str(spool_dir)})
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def temp_bytes(pid: int, directory: Path) -> int:
    """Bytes in the files under ``directory`` that a process and its children hold open
    (a spooled temporary file has no name left: it is found through /proc)."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            descriptors = list(Path(f"/proc/{process}/fd").iterdir())
        except FileNotFoundError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(fd).startswith(str(directory)):
                    total += fd.stat().st_size
            except OSError:
                continue
    return total


@dataclass
class Peak:
    status: int
    rows: int
    rss_growth: int
    temp_bytes: int


def upload(server: Server, spool_dir: Path, body: bytes, *, multipart: bool = False) -> Peak:
    """POST ``body`` as CSV (or as the page does, a multipart upload), reading the answer
    as it comes; sample the server's memory and temporary files meanwhile."""
    before = tree_rss_bytes(server.pid)
    peaks = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks[0] = max(peaks[0], tree_rss_bytes(server.pid))
            peaks[1] = max(peaks[1], temp_bytes(server.pid, spool_dir))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        request = (
            httpx.Request("POST", server.url + PATH, files={"file": ("in.csv", body, "text/csv")})
            if multipart
            else httpx.Request("POST", server.url + PATH, content=body, headers=CSV)
        )
        with httpx.Client(timeout=300) as client:
            response = client.send(request, stream=True)
            try:
                lines = sum(chunk.count(b"\n") for chunk in response.iter_bytes())
            finally:
                response.close()
    finally:
        done.set()
        sampler.join()
    return Peak(response.status_code, lines - 1, peaks[0] - before, peaks[1])


def wide_file(rows: int) -> bytes:
    """10,000 columns (the 4 features last) of two-digit numbers: 30 KB a row."""
    header = b",".join([b"c%d" % i for i in range(9996)]) + b"," + HEADER + b"\n"
    return header + (b"12," * 9996 + b"5.1,3.5,1.4,0.2\n") * rows


SHAPES: dict[str, tuple[Callable[[], bytes], int]] = {
    "10,000 columns x 3,000 rows": (lambda: wide_file(3000), 200),
    "a row of 10,000,000 fields": (lambda: HEADER + b"\n" + b"1," * 10_000_000 + b"1\n", 422),
    "a header of 10,000,000 columns": (lambda: b"c," * 10_000_000 + b"c\n", 400),
    "a field of 100 MB": (lambda: b"note," + HEADER + b"\n" + b"x" * 100 * MiB + b"\n", 400),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_memory_is_bounded_for_any_shape(server: Server, spool_dir: Path, shape: str) -> None:
    make, status = SHAPES[shape]
    body = make()
    peak = upload(server, spool_dir, body)
    del body
    assert peak.status == status
    assert peak.rss_growth < 256 * MiB, f"{shape}: RSS grew by {peak.rss_growth / MiB:.0f} MiB"
    if status == 200:
        assert peak.rows == 3000
    else:  # refused at its first bytes: nothing like its size is held
        assert peak.rss_growth < 64 * MiB, f"{shape}: RSS grew by {peak.rss_growth / MiB:.0f} MiB"


@pytest.mark.parametrize("multipart", [False, True], ids=["body", "page upload"])
def test_the_output_is_never_spooled_to_disk(
    server: Server, spool_dir: Path, multipart: bool
) -> None:
    rows = 1_000_000
    body = HEADER + b"\n" + b"5.1,3.5,1.4,0.2\n6.3,2.8,5.1,1.5\n" * (rows // 2)
    peak = upload(server, spool_dir, body, multipart=multipart)
    assert peak.status == 200
    assert peak.rows == rows
    # The upload is spooled (the one temporary file); the scored CSV, 5x its size, is not.
    assert len(body) * 0.5 < peak.temp_bytes <= len(body), peak.temp_bytes

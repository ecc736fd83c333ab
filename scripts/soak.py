"""Soak test: drive `dockyard serve --workers 2` at full speed with a mix of valid and
invalid requests for a bounded time, then check the service held up.

    .venv/bin/python scripts/soak.py --duration 600      # the documented 10-minute run
    .venv/bin/python scripts/soak.py --duration 30       # the version the test suite runs

Passes when: no response had an unexpected status, no connection failed, and resident
memory of the server process tree at the end is within --memory-tolerance of its level
after warm-up. Prints a JSON summary; exit code 0 on pass, 1 on fail. Traffic goes only
to 127.0.0.1, and every loop is bounded by the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.processes import Server, tree_rss_bytes

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CSV_BODY = (
    "id,sepal_length,sepal_width,petal_length,petal_width\n"
    + "".join(f"{i},5.{i % 9},3.{i % 7},1.{i % 5},0.{i % 3}\n" for i in range(200))
).encode()


@dataclass(frozen=True)
class Kind:
    name: str
    method: str
    path: str
    expected: int
    body: bytes | None = None
    content_type: str = "application/json"


def request_mix() -> list[Kind]:
    batch = json.dumps([SETOSA] * 20).encode()
    return [
        Kind("single", "POST", "/v1/models/iris/predict", 200, json.dumps(SETOSA).encode()),
        Kind("single", "POST", "/v1/models/iris/predict", 200, json.dumps(SETOSA).encode()),
        Kind(
            "query",
            "GET",
            "/v1/models/iris/predict?sepal_length=6&sepal_width=3&petal_length=5&petal_width=2",
            200,
        ),
        Kind("batch", "POST", "/v1/models/iris/predict", 200, batch),
        Kind("csv", "POST", "/v1/models/iris/predict/csv", 200, CSV_BODY, "text/csv"),
        Kind("wine", "GET", "/v1/models/wine", 200),
        Kind(
            "v2",
            "POST",
            "/v2/models/iris/infer",
            200,
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "x",
                            "shape": [1, 4],
                            "datatype": "FP64",
                            "data": [5.1, 3.5, 1.4, 0.2],
                        }
                    ]
                }
            ).encode(),
        ),
        Kind(
            "invalid_field",
            "POST",
            "/v1/models/iris/predict",
            422,
            json.dumps({**SETOSA, "sepal_length": "x"}).encode(),
        ),
        Kind("malformed", "POST", "/v1/models/iris/predict", 400, b'{"sepal_length": '),
        Kind("unknown_model", "POST", "/v1/models/nope/predict", 404, json.dumps(SETOSA).encode()),
        Kind(
            "content_type",
            "POST",
            "/v1/models/iris/predict",
            415,
            b"sepal_length=1",
            "application/x-www-form-urlencoded",
        ),
        Kind(
            "bad_csv", "POST", "/v1/models/iris/predict/csv", 422, b"sepal_length\n1\n", "text/csv"
        ),
    ]


async def drive(
    url: str, seconds: float, concurrency: int
) -> tuple[Counter[str], Counter[str], list[str], int]:
    mix = request_mix()
    statuses: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

        async def worker(offset: int) -> None:
            i = offset
            while time.monotonic() < deadline:
                kind = mix[i % len(mix)]
                i += 1
                try:
                    response = await client.request(
                        kind.method,
                        kind.path,
                        content=kind.body,
                        headers={"content-type": kind.content_type},
                    )
                except httpx.HTTPError as exc:
                    errors.append(f"{kind.name}: {type(exc).__name__}: {exc}")
                    continue
                statuses[f"{kind.name} {response.status_code}"] += 1
                if response.status_code != kind.expected:
                    unexpected[f"{kind.name} {response.status_code}"] += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return statuses, unexpected, errors, sum(statuses.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds of load after warm-up")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-tolerance", type=float, default=0.10)
    parser.add_argument(
        "--bundles", type=Path, help="directory holding iris/ and wine/ (trained if missing)"
    )
    args = parser.parse_args(argv)

    import dockyard

    root = args.bundles or Path(tempfile.mkdtemp(prefix="dockyard-soak-"))
    for name in ("iris", "wine"):
        if not (root / name / "bundle.json").is_file():
            dockyard.train_example(name, root / name)
    server = Server(root / "iris", root / "wine", workers=args.workers)
    try:
        server.wait_ready()
        asyncio.run(drive(server.url, args.warmup, args.concurrency))
        rss_warm = tree_rss_bytes(server.pid)
        started = time.monotonic()
        statuses, unexpected, errors, total = asyncio.run(
            drive(server.url, args.duration, args.concurrency)
        )
        elapsed = time.monotonic() - started
        rss_end = tree_rss_bytes(server.pid)
    finally:
        exit_code = server.stop()
    growth = (rss_end - rss_warm) / rss_warm
    summary = {
        "duration_s": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "workers": args.workers,
        "concurrency": args.concurrency,
        "statuses": dict(sorted(statuses.items())),
        "unexpected": dict(unexpected),
        "connection_errors": len(errors),
        "first_errors": errors[:5],
        "rss_after_warmup_mb": round(rss_warm / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "rss_growth": round(growth, 4),
        "server_exit_code": exit_code,
    }
    ok = not unexpected and not errors and growth <= args.memory_tolerance and total > 0
    summary["passed"] = ok
    print(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""HTTP load and single requests: wrk for throughput and latency, http.client for the rest.

wrk sends the same single-row POST over keep-alive connections for a fixed duration; a
Lua ``done`` hook prints its figures as one JSON line, so nothing is scraped from prose.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
wrk.body = [==[{body}]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


class LoadError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    port: int
    path: str
    body: bytes
    content_type: str = "application/json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk(
    target: Target, *, connections: int, seconds: float, workdir: Path, threads: int = 1
) -> dict[str, Any]:
    """One bounded wrk run; req/s, latency percentiles (ms) and error counts."""
    script = workdir / "predict.lua"
    script.write_text(
        _LUA.format(content_type=target.content_type, body=target.body.decode("utf-8"))
    )
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        target.url,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-300:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(raw[k] for k in raw if k.endswith("_errors") or k == "timeouts")
    seconds_run = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "seconds": round(seconds_run, 2),
        "requests": raw["requests"],
        "errors": errors,
        "rps": round((raw["requests"] - errors) / seconds_run, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
    }


def post(
    target: Target, *, timeout: float = 5.0, body: Any = None, content_type: str | None = None
) -> tuple[int, bytes]:
    """One POST on a fresh connection: (status, body). ``body`` may be a file object."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=timeout)
    try:
        payload = target.body if body is None else body
        headers = {"Content-Type": content_type or target.content_type}
        if hasattr(payload, "seek"):
            payload.seek(0, 2)
            headers["Content-Length"] = str(payload.tell())
            payload.seek(0)
        conn.request("POST", target.path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until_answers(
    target: Target, check: Any, *, alive: Any, timeout: float, started: float
) -> float:
    """Poll with a real prediction until a correct answer; seconds since ``started``."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise LoadError(f"the server exited before answering ({last})")
        try:
            status, body = post(target, timeout=2.0)
        except OSError as exc:
            last = type(exc).__name__
        else:
            if status == 200 and check(body):
                return time.perf_counter() - started
            last = f"HTTP {status}: {body[:200]!r}"
            if status not in (404, 500, 502, 503):
                raise LoadError(f"unexpected answer: {last}")
        time.sleep(0.005)
    raise LoadError(f"no correct answer within {timeout:.0f} s ({last})")

"""Measure one server: cold starts, warm-up, wrk at each concurrency, CSV over HTTP, and
the peak memory of its process tree throughout. A failure is recorded, never raised."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import LoadError, Target, post, wait_until_answers, wrk
from bench.procs import Process
from bench.servers import Spec

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float
    warmup: float
    connections: tuple[int, ...]
    cold_starts: int
    csv_file: Path | None
    csv_rows: int


def _csv_http(spec: Spec, plan: Plan) -> dict[str, Any]:
    assert spec.csv_path is not None
    assert plan.csv_file is not None
    target = Target(spec.port, spec.csv_path, b"", "text/csv")
    started = time.perf_counter()
    with plan.csv_file.open("rb") as fh:
        status, body = post(target, body=fh, timeout=600)
    elapsed = time.perf_counter() - started
    ok = status == 200 and (spec.csv_check is None or spec.csv_check(body, plan.csv_rows))
    if not ok:
        return {"status": "error", "reason": f"HTTP {status}: {body[:200]!r}"}
    return {
        "status": "ok",
        "rows": plan.csv_rows,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(plan.csv_rows / elapsed),
    }


def _busy_fraction(seconds: float) -> float:
    """How busy the machine's CPUs were over the next ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def settle(*, quiet: float = 0.1, window: float = 0.25, limit: float = 5.0) -> float:
    """Wait until the CPUs are quiet (the previous server's exit, its load's backlog):
    a start-up measured on a busy machine measures the machine. Returns the seconds waited."""
    started = time.monotonic()
    if not Path("/proc/stat").is_file():
        return 0.0
    while time.monotonic() - started < limit and _busy_fraction(window) > quiet:
        pass
    return round(time.monotonic() - started, 2)


def _start(proc: Process, spec: Spec, target: Target) -> float:
    try:
        return wait_until_answers(
            target, spec.check, alive=proc.alive, timeout=spec.start_timeout, started=proc.started
        )
    except LoadError as exc:
        raise LoadError(f"{exc}; log: {proc.log_tail()}") from None


def measure(spec: Spec, plan: Plan, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"server": spec.server, "model": spec.model, "status": "ok"}
    target = Target(spec.port, spec.path, spec.body)
    log = workdir / "logs" / f"{spec.server}-{spec.model or 'none'}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc: Process | None = None
    try:
        # Process cold start: one serving process, from spawn to the first correct answer.
        cold = spec.single or spec
        colds: list[float] = []
        result["settle_s"] = settle()
        for _ in range(plan.cold_starts):
            proc = Process(cold.argv, env=cold.env, cwd=cold.cwd, log=log)
            colds.append(_start(proc, cold, target))
            proc.stop()
            proc = None
        result["cold_start_s"] = round(statistics.median(colds), 3)
        result["cold_start_runs_s"] = [round(c, 3) for c in colds]
        proc = Process(spec.argv, env=spec.env, cwd=spec.cwd, log=log)
        # With several workers: until the first of them answers.
        result["start_s"] = round(_start(proc, spec, target), 3)
        proc.start_sampling()
        result["idle_rss_mb"] = round(proc.sample() / MiB, 1)
        if plan.warmup > 0:
            wrk(target, connections=max(plan.connections), seconds=plan.warmup, workdir=workdir)
        result["load"] = {
            f"c{c}": wrk(target, connections=c, seconds=plan.seconds, workdir=workdir)
            for c in plan.connections
        }
        if spec.csv_path and plan.csv_file is not None:
            result["csv_http"] = _csv_http(spec, plan)
        proc.sample()
        result["peak_rss_mb"] = round(proc.peak_rss / MiB, 1)
    except (LoadError, OSError) as exc:
        result["status"] = "error"
        result["reason"] = str(exc)[:600]
    finally:
        if proc is not None:
            proc.stop()
    return result

"""CSV scoring over HTTP, on its own: one POST of the same N-row Iris file to Dockyard's
``/predict/csv`` and to MLflow's ``/invocations`` (pandas' C parser), for each model.

For each server and model: one small POST first (imports on first use are not the
file's cost), then ``--repeats`` POSTs of the whole file. Reported per POST: wall time
and rows/s (best and median), and the CPU seconds the server's process tree used,
which a shared machine disturbs far less than wall time.

    PYTHONPATH=src:. .venv/bin/python -m bench.csv_http --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import envs, models, prepare, servers
from bench.load import LoadError, Target, post, wait_until_answers
from bench.procs import Process, descendants

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (from /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


def _small(csv_file: Path, rows: int, out: Path) -> Path:
    with csv_file.open("rb") as fh:
        lines = [fh.readline() for _ in range(rows + 1)]
    out.write_bytes(b"".join(lines))
    return out


def one_server(
    spec: servers.Spec, csv_file: Path, rows: int, repeats: int, workdir: Path
) -> dict[str, Any]:
    assert spec.csv_path is not None
    result: dict[str, Any] = {"server": spec.server, "model": spec.model, "rows": rows}
    log = workdir / "logs" / f"csv-{spec.server}-{spec.model}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = Process(spec.argv, env=spec.env, cwd=spec.cwd, log=log)
    try:
        wait_until_answers(
            Target(spec.port, spec.path, spec.body),
            spec.check,
            alive=proc.alive,
            timeout=spec.start_timeout,
            started=proc.started,
        )
        target = Target(spec.port, spec.csv_path, b"", "text/csv")
        with _small(csv_file, 1000, workdir / "warm.csv").open("rb") as fh:
            status, body = post(target, body=fh, timeout=120)
        if status != 200:
            raise LoadError(f"warm-up: HTTP {status}: {body[:200]!r}")
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(repeats):
            pids = descendants(proc.pid)
            cpu0 = cpu_seconds(pids)
            started = time.perf_counter()
            with csv_file.open("rb") as fh:
                status, body = post(target, body=fh, timeout=600)
            walls.append(time.perf_counter() - started)
            cpus.append(cpu_seconds(pids) - cpu0)
            if status != 200 or (spec.csv_check is not None and not spec.csv_check(body, rows)):
                raise LoadError(f"HTTP {status}: {body[:200]!r}")
        result.update(
            status="ok",
            response_mb=round(len(body) / 2**20, 1),
            walls_s=[round(w, 3) for w in walls],
            best_rows_per_s=round(rows / min(walls)),
            median_rows_per_s=round(rows / statistics.median(walls)),
            server_cpu_s=[round(c, 2) for c in cpus],
            rows_per_cpu_s=round(rows / min(cpus)) if min(cpus) > 0 else None,
        )
    except (LoadError, OSError) as exc:
        result.update(status="error", reason=str(exc)[:400])
    finally:
        proc.stop()
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.csv_http", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=["lr", "rf"], choices=list(models.KINDS))
    parser.add_argument(
        "--servers", nargs="+", default=["dockyard", "mlflow"], choices=["dockyard", "mlflow"]
    )
    parser.add_argument(
        "--decimals",
        type=int,
        default=1,
        help="Decimal places of the rows (1, as measurements are written; more: fewer repeats).",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-csv-"))
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    envs.ensure(envs.ENVS["baseline"], workdir / "logs" / "baseline-install.log")
    if "mlflow" in args.servers:
        envs.ensure(envs.ENVS["mlflow"], workdir / "logs" / "mlflow-install.log")
    files = {k: models.prepare(k, workdir, envs.ENVS["baseline"]) for k in args.kinds}
    name = "iris.csv" if args.decimals == 1 else f"iris-{args.decimals}.csv"
    csv_file = models.write_csv(workdir / name, args.rows, decimals=args.decimals)
    results = []
    for kind in args.kinds:
        for server in args.servers:
            port = servers.free_port()
            if server == "dockyard":
                spec = servers.dockyard(port, files[kind], runtime="fast", workers=1)
            else:
                model_dir = prepare.mlflow_model(files[kind], workdir)
                spec = servers.mlflow(port, model_dir, kind, workers=1)
            print(f"bench: {spec.server} {kind}…", file=sys.stderr, flush=True)
            result = one_server(spec, csv_file, args.rows, args.repeats, workdir)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| model | server | best rows/s | median rows/s | server CPU s per POST | response |")
    print("|---|---|---|---|---|---|")
    for r in results:
        if r["status"] != "ok":
            print(f"| {r['model']} | {r['server']} | {r['reason'][:60]} | | | |")
            continue
        print(
            f"| {r['model']} | {r['server']} | {r['best_rows_per_s']:,} | "
            f"{r['median_rows_per_s']:,} | {min(r['server_cpu_s'])} | {r['response_mb']} MiB |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

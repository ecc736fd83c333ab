"""``bench/run``: start every server side by side, measure, print and save the results."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import batch, containers, envs, models, prepare, report, servers
from bench.load import wrk_available
from bench.measure import Plan, measure

ORDER = (
    "hello",
    "baseline",
    "dockyard-sklearn",
    "dockyard-fast",
    "dockyard-fast-log",
    "mlflow",
    "bentoml",
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s load runs, 1 cold start, 100k CSV rows: a smoke run",
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds per wrk run (default 10, quick 2)"
    )
    parser.add_argument(
        "--servers", default=",".join(ORDER), help=f"comma-separated subset of {','.join(ORDER)}"
    )
    parser.add_argument("--models", default="lr,rf", help="comma-separated subset of lr,rf")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes for Dockyard, MLflow and BentoML (default 2)",
    )
    parser.add_argument(
        "--csv-rows",
        type=int,
        default=None,
        help="rows in the CSV file (default 1,000,000, quick 100,000; 0 skips CSV)",
    )
    parser.add_argument(
        "--cold-starts",
        type=int,
        default=None,
        help="process starts per server; the median is reported (default 3, quick 1)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every server this many times, in turn, and report the medians "
        "(default 1; the figures in docs/performance.md use 3)",
    )
    parser.add_argument("--no-containers", action="store_true", help="skip image builds")
    parser.add_argument("--out", type=Path, default=envs.ROOT / "results")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=envs.ROOT,
            timeout=10,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _fast_runtime_missing() -> str | None:
    if importlib.util.find_spec("dockyard.runtime") is None:
        return "Dockyard has no fast runtime in this version (dockyard.runtime is missing)"
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.rounds < 1:
        print("bench: --rounds must be 1 or more")
        return 2
    seconds = args.duration or (2.0 if args.quick else 10.0)
    csv_rows = (
        args.csv_rows if args.csv_rows is not None else (100_000 if args.quick else 1_000_000)
    )
    cold_starts = args.cold_starts or (1 if args.quick else 3)
    wanted = [s for s in ORDER if s in args.servers.split(",")]
    kinds = [k for k in ("lr", "rf") if k in args.models.split(",")]
    if not wrk_available():
        print("bench: wrk is not installed (apt-get install wrk)")
        return 2
    if os.getloadavg()[0] > 0.5:
        # Other work on the machine steals the cores the servers and wrk share.
        print(f"bench: warning: load average {os.getloadavg()[0]:.1f}; figures will be low")
    envs.CACHE.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=envs.CACHE))
    doc: dict[str, Any] = {
        "meta": {
            "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": _commit(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "seconds": seconds,
            "workers": args.workers,
            "connections": [1, 32],
            "csv_rows": csv_rows,
            "cold_starts": cold_starts,
            "rounds": args.rounds,
            "bytecode": "precompiled (.pyc written once per environment)",
            "load_average_at_start": os.getloadavg()[0],
        },
        "results": [],
        "csv_cli": [],
        "skipped": [],
    }
    started = time.monotonic()
    try:
        _run(doc, args, wanted, kinds, seconds, csv_rows, cold_starts, workdir)
    finally:
        doc["meta"]["wall_s"] = round(time.monotonic() - started, 1)
        doc["meta"]["load_average_at_end"] = os.getloadavg()[0]
        report.add_ratios(doc)
        report.add_log_cost(doc)
        json_path, md_path = report.write(doc, args.out)
        print(report.markdown(doc))
        print(f"bench: wrote {json_path} and {md_path}")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _skip(doc: dict[str, Any], server: str, reason: str) -> None:
    print(f"bench: skipping {server}: {reason}")
    doc["skipped"].append({"server": server, "reason": reason})


def _run(
    doc: dict[str, Any],
    args: argparse.Namespace,
    wanted: list[str],
    kinds: list[str],
    seconds: float,
    csv_rows: int,
    cold_starts: int,
    workdir: Path,
) -> None:
    usable: dict[str, bool] = {}
    for name in ("baseline", "mlflow", "bentoml"):
        if name != "baseline" and name not in wanted:
            continue
        print(f"bench: environment {name}…")
        try:
            envs.ensure(envs.ENVS[name], workdir / "logs" / f"{name}-install.log")
            usable[name] = True
        except envs.EnvError as exc:
            usable[name] = False
            _skip(doc, name, str(exc))
    if not usable["baseline"]:
        raise SystemExit("bench: the baseline environment is required")
    print("bench: bytecode caches…")
    log = workdir / "logs" / "precompile.log"
    envs.precompile(
        Path(sys.executable),
        [envs.site_packages(Path(sys.executable)), envs.ROOT.parent / "src"],
        log,
    )
    for name, ok in usable.items():
        if ok:
            python = envs.ENVS[name].python
            envs.precompile(python, [envs.site_packages(python)], log)
    print("bench: training models…")
    files = {k: models.prepare(k, workdir, envs.ENVS["baseline"]) for k in kinds}
    csv_file = models.write_csv(workdir / "iris.csv", csv_rows) if csv_rows else None
    plan = Plan(seconds, min(2.0, seconds / 2), (1, 32), cold_starts, csv_file, csv_rows)

    fast_missing = _fast_runtime_missing()
    for fast in ("dockyard-fast", "dockyard-fast-log"):
        if fast in wanted and fast_missing:
            _skip(doc, fast, fast_missing)
            wanted.remove(fast)

    specs = [
        spec
        for server in wanted
        if usable.get(server, True)
        for spec in _specs(doc, server, kinds, files, args.workers, workdir)
    ]
    # Rounds go through every server in turn, so that a slow minute of a shared machine
    # falls on all of them rather than on one; the medians are reported.
    rounds: list[list[dict[str, Any]]] = [[] for _ in specs]
    for number in range(1, args.rounds + 1):
        for spec, runs in zip(specs, rounds, strict=True):
            where = f" (round {number}/{args.rounds})" if args.rounds > 1 else ""
            print(f"bench: {spec.server} {spec.model or ''}{where}…", flush=True)
            runs.append(measure(spec, plan, workdir))
    doc["results"] = [report.median_of(runs) for runs in rounds]

    if csv_file is not None:
        for runtime in ("sklearn", "fast"):
            if f"dockyard-{runtime}" not in wanted:
                continue
            for kind in kinds:
                print(f"bench: dockyard predict {runtime} {kind}…", flush=True)
                doc["csv_cli"].append(
                    batch.dockyard_predict(
                        files[kind], csv_file, csv_rows, runtime=runtime, workdir=workdir
                    )
                )
    if not args.no_containers and any(s.startswith("dockyard") for s in wanted):
        doc["containers"] = containers.measure(files, workdir, fast=not fast_missing)


def _specs(
    doc: dict[str, Any],
    server: str,
    kinds: list[str],
    files: dict[str, models.ModelFiles],
    workers: int,
    workdir: Path,
) -> list[servers.Spec]:
    if server == "hello":
        return [servers.hello(servers.free_port())]
    specs = []
    for kind in kinds:
        port = servers.free_port()
        make: Callable[..., servers.Spec]
        if server == "baseline":
            specs.append(servers.baseline(port, files[kind]))
            continue
        if server == "dockyard-fast-log":
            log = workdir / f"predictions-{kind}.db"
            log.unlink(missing_ok=True)
            make = functools.partial(servers.dockyard, port, files[kind], runtime="fast", log=log)
        elif server.startswith("dockyard-"):
            runtime = server.removeprefix("dockyard-")
            make = functools.partial(servers.dockyard, port, files[kind], runtime=runtime)
        elif server == "mlflow":
            try:
                model_dir = prepare.mlflow_model(files[kind], workdir)
            except prepare.PrepareError as exc:
                _skip(doc, f"mlflow {kind}", f"could not save the model: {exc}")
                continue
            make = functools.partial(servers.mlflow, port, model_dir, kind)
        elif server == "bentoml":
            home = workdir / "bentoml"
            try:
                tag = prepare.bento_model(files[kind], home, dict(os.environ), workdir)
            except prepare.PrepareError as exc:
                _skip(doc, f"bentoml {kind}", f"could not import the model: {exc}")
                continue
            make = functools.partial(servers.bentoml, port, home, tag, kind)
        else:
            continue
        # Cold starts are of one serving process, for every server; load runs use `workers`.
        single = make(workers=1) if workers > 1 else None
        specs.append(dataclasses.replace(make(workers=workers), single=single))
    return specs

"""Parquet and Spark scoring, side by side (issue 16):

* one machine: ``dockyard predict`` on Parquet against the same rows as CSV, wall time of
  the whole command, process start included, and against the floor of
  ``parquet_floor.py`` (the same file through numpy, ONNX Runtime and pyarrow alone);
* a Spark standalone cluster on 127.0.0.1 (a master and two one-core workers, from
  PySpark's ``spark-class``): ``dockyard.spark.score`` against ``mlflow.pyfunc.spark_udf``
  with ``env_manager="local"``, same data, same model (LogisticRegression on Iris), each
  in its own environment, timed inside its driver (the job only, JVM start left out).

    python -m bench.spark [--rows 1000000] [--repeats 3] [--rounds 2] [--out bench/.cache/spark.json]

MLflow's UDF returns the label only; Dockyard also writes the three probabilities.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bench import envs, procs
from bench.baseline.train import build_model, load_data
from bench.models import write_csv

DRIVER = envs.ROOT / "peers" / "spark_driver.py"
MLFLOW = envs.PeerEnv(
    "mlflow-spark",
    # PySpark 4.3 warns about pandas 3; MLflow's UDF is a pandas UDF.
    envs._pinned("mlflow", "pyspark==4.3.0", "pyarrow", "pandas<3"),
)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _source_dir() -> str:
    import dockyard

    return str(Path(dockyard.__file__).resolve().parents[1])


WORKERS = 2


class Cluster:
    """A master and ``WORKERS`` one-core, 1 GiB workers; stopped by PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port, self.webui = _free_port(), _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Cluster:
        launcher = str(_spark_home() / "bin" / "spark-class")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
        env.update(
            SPARK_HOME=str(_spark_home()),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_WORKER_MEMORY="1g",
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
            SPARK_LOG_DIR=str(self.workdir / "logs"),
            PYTHONPATH=_source_dir(),
        )
        log = (self.workdir / "cluster.log").open("ab")
        master = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        self.processes.append(
            subprocess.Popen(
                [launcher, *master, "--port", str(self.port), "--webui-port", str(self.webui)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        for n in range(1, WORKERS + 1):
            worker = ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1"]
            self.processes.append(
                subprocess.Popen(
                    [
                        launcher,
                        *worker,
                        "--port",
                        str(_free_port()),
                        "--webui-port",
                        str(_free_port()),
                        "--cores",
                        "1",
                        "--memory",
                        "1g",
                        "--work-dir",
                        str(self.workdir / f"work{n}"),
                        self.url,
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 180
        while self._alive() < WORKERS:
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the cluster did not start; see {self.workdir / 'cluster.log'}")
            time.sleep(1)
        return self

    def _alive(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.webui}/json/", timeout=5) as r:
                state = json.load(r)
        except OSError:
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def cpu_seconds(self) -> float:
        """CPU time the workers, their executors and the executors' Python workers have
        used so far: on a shared machine, a fairer measure than the wall clock. (An
        exited process's time is counted in its parent's once reaped.)"""
        ticks = 0
        for worker in self.processes[1:]:
            for pid in procs.descendants(worker.pid):
                try:
                    with open(f"/proc/{pid}/stat", "rb") as fh:
                        stat = fh.read()
                except OSError:
                    continue
                fields = stat[stat.rindex(b")") + 2 :].split()
                ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _models(workdir: Path) -> tuple[Path, Path]:
    """The one LogisticRegression as a Dockyard bundle and as an MLflow model."""
    import dockyard

    X, y = load_data()
    model = build_model("lr").fit(X.to_numpy(), y.to_numpy())
    bundle = workdir / "bundle"
    dockyard.save_bundle(model, X, y, name="iris-lr", path=bundle, overwrite=True)
    pkl = workdir / "model.pkl"
    pkl.write_bytes(pickle.dumps(model))
    mlflow_dir = workdir / "mlflow-model"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    envs.ensure(MLFLOW, workdir / "logs" / "mlflow-spark-env.log")
    subprocess.run(
        [
            str(MLFLOW.python),
            str(envs.ROOT / "peers" / "mlflow_prepare.py"),
            str(pkl),
            str(mlflow_dir),
        ],
        check=True,
        timeout=600,
    )
    return bundle, mlflow_dir


def _data(workdir: Path, rows: int) -> tuple[Path, Path]:
    csv_file = write_csv(workdir / f"iris-{rows}.csv", rows)
    parquet_file = workdir / f"iris-{rows}.parquet"
    pq.write_table(pacsv.read_csv(csv_file), parquet_file, row_group_size=131_072)
    return csv_file, parquet_file


def single_machine(
    bundle: Path, source: Path, rows: int, repeats: int, workdir: Path
) -> dict[str, Any]:
    """Best of ``repeats`` runs of the whole ``dockyard predict`` command."""
    out = workdir / f"scored{source.suffix}"
    argv = [str(Path(sys.executable).with_name("dockyard")), "predict", str(bundle), str(source)]
    return _timed([*argv, "-o", str(out)], out, rows, repeats)


def floor(bundle: Path, source: Path, rows: int, repeats: int, workdir: Path) -> dict[str, Any]:
    """The same file scored by ``parquet_floor.py`` (imports, model, read, run, write; no
    labels, checks or threads), and that script's imports alone: what this machine
    cannot go below."""
    out = workdir / "floor.parquet"
    script = [sys.executable, str(envs.ROOT / "parquet_floor.py"), str(bundle / "model.onnx")]
    return {
        "imports": _timed([*script, "-", "-", "--imports-only"], out, rows, repeats),
        "scoring": _timed([*script, str(source), str(out)], out, rows, repeats),
    }


def _timed(argv: list[str], out: Path, rows: int, repeats: int) -> dict[str, Any]:
    times = []
    cpus = []
    for _ in range(repeats):
        out.unlink(missing_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            argv,
            env=envs.server_env(),
            check=True,
            timeout=900,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds of the command's processes: a busy machine disturbs them far less.
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    best = min(times)
    return {
        "seconds": [round(t, 3) for t in times],
        "rows_per_s": round(rows / best),
        "cpu_seconds": [round(c, 2) for c in cpus],
    }


def on_spark(
    scorer: str, cluster: Cluster, model: Path, source: Path, repeats: int, workdir: Path
) -> dict[str, Any]:
    python = str(MLFLOW.python) if scorer == "mlflow" else sys.executable
    outdir = workdir / f"out-{scorer}"
    shutil.rmtree(outdir, ignore_errors=True)
    env = envs.server_env(PYSPARK_PYTHON=python, SPARK_LOCAL_IP="127.0.0.1")
    if scorer != "mlflow":
        env["PYTHONPATH"] = _source_dir()
    cpu = cluster.cpu_seconds()
    # Splits of half the file: each of the two workers scores half of every job (by
    # default Spark would read a file this small as one partition, on one worker).
    split = source.stat().st_size // WORKERS + 1
    done = subprocess.run(
        [
            python,
            str(DRIVER),
            scorer,
            cluster.url,
            str(model),
            str(source),
            str(outdir),
            str(repeats),
            str(split),
            *(str(p.pid) for p in cluster.processes[1:]),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return {"status": "error", "reason": done.stderr.strip()[-600:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The executors' CPU for the whole session: a count and `repeats` scoring jobs.
    result["cluster_cpu_seconds"] = round(cluster.cpu_seconds() - cpu, 2)
    best = min(result["seconds"])
    # The first job starts the executors' Python workers and loads the model; the others
    # show what scoring costs once that is paid.
    steady = sorted(result["cpu_seconds"][1:]) or result["cpu_seconds"]
    return {
        **result,
        "status": "ok",
        "rows_per_s": round(result["rows"] / best),
        "steady_cpu_seconds_median": steady[len(steady) // 2],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="Spark sessions per scorer")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument(
        "--scorers",
        default="dockyard,mlflow,copy,constant",
        help="Spark runs, comma-separated (copy and constant are floors)",
    )
    parser.add_argument("--out", type=Path, default=envs.CACHE / "spark.json")
    args = parser.parse_args(argv)
    workdir = envs.CACHE / "spark-run"
    workdir.mkdir(parents=True, exist_ok=True)
    bundle, mlflow_model = _models(workdir)
    csv_file, parquet_file = _data(workdir, args.rows)
    doc: dict[str, Any] = {"rows": args.rows, "cores": os.cpu_count()}
    doc["predict_parquet"] = single_machine(bundle, parquet_file, args.rows, args.repeats, workdir)
    doc["parquet_floor"] = floor(bundle, parquet_file, args.rows, args.repeats, workdir)
    doc["predict_csv"] = single_machine(bundle, csv_file, args.rows, args.repeats, workdir)
    print(json.dumps(doc), flush=True)
    if not args.skip_spark:
        # Rounds alternate the two, so a busy spell on a shared machine hits both alike.
        # copy and constant are floors: the same job with no model (see the driver).
        runs: dict[str, list[dict[str, Any]]] = {
            "dockyard": [],
            "mlflow": [],
            "copy": [],
            "constant": [],
        }
        models = {"dockyard": bundle, "mlflow": mlflow_model, "copy": bundle, "constant": bundle}
        with Cluster(workdir) as cluster:
            for n in range(args.rounds):
                for scorer, model in models.items():
                    if scorer not in args.scorers.split(","):
                        continue
                    if scorer in ("copy", "constant") and n > 0:
                        continue  # floors: one session is enough
                    runs[scorer].append(
                        on_spark(scorer, cluster, model, parquet_file, args.repeats, workdir)
                    )
                    print(json.dumps({scorer: runs[scorer][-1]}), flush=True)
        for scorer, results in runs.items():
            ok = [r for r in results if r["status"] == "ok"]
            seconds = sorted(t for r in ok for t in r["seconds"])
            steady = sorted(r["steady_cpu_seconds_median"] for r in ok)
            doc[f"spark_{scorer}"] = {
                "runs": results,
                "steady_cpu_seconds_per_job": steady[len(steady) // 2] if steady else None,
                "cluster_cpu_seconds_min": min(
                    (r["cluster_cpu_seconds"] for r in ok), default=None
                ),
                "rows_per_s_best": round(args.rows / seconds[0]) if seconds else None,
                "rows_per_s_median": round(args.rows / seconds[len(seconds) // 2])
                if seconds
                else None,
            }
        ours, theirs = doc["spark_dockyard"], doc["spark_mlflow"]
        if ours["steady_cpu_seconds_per_job"] and theirs["steady_cpu_seconds_per_job"]:
            doc["spark_ratio"] = {
                "best_rows_per_s": round(ours["rows_per_s_best"] / theirs["rows_per_s_best"], 2),
                "median_rows_per_s": round(
                    ours["rows_per_s_median"] / theirs["rows_per_s_median"], 2
                ),
                # Executors' CPU seconds per job, the first of each session left out: what
                # a busy machine disturbs least.
                "steady_cpu": round(
                    theirs["steady_cpu_seconds_per_job"] / ours["steady_cpu_seconds_per_job"], 2
                ),
            }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

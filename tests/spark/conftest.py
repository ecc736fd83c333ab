"""A real Spark standalone cluster on 127.0.0.1: a master and two one-core workers,
started from PySpark's own launcher (``spark-class``) and stopped by PID."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import dockyard
from tests.conftest import missing_prerequisite
from tests.processes import free_port

START_TIMEOUT = 180


@dataclass(frozen=True, slots=True)
class Cluster:
    url: str
    """``spark://127.0.0.1:PORT``"""
    env: dict[str, str]
    """The environment a driver on this machine needs (PYSPARK_PYTHON and the like)."""


def spark_home() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        missing_prerequisite("pyspark is not installed (pip install 'dockyard[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing_prerequisite("no Java runtime (scripts/ci-system installs openjdk-17-jre-headless)")
    return Path(spec.origin).parent


def driver_env(python: str) -> dict[str, str]:
    """The environment of a driver whose executors run ``python``."""
    source = str(Path(dockyard.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=python,
        # No web UI on a port other runs may hold, and no REST server.
        PYSPARK_SUBMIT_ARGS="--conf spark.ui.enabled=false pyspark-shell",
        # The executors import the Dockyard under test, wherever it is.
        PYTHONPATH=os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p),
    )
    return env


def _alive_workers(webui: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/json/", timeout=5) as reply:
            state = json.load(reply)
    except OSError:
        return 0
    return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = spark_home()
    root = tmp_path_factory.mktemp("spark")
    launcher = str(home / "bin" / "spark-class")
    env = driver_env(sys.executable)
    env.update(
        SPARK_HOME=str(home),
        SPARK_LOG_DIR=str(root / "logs"),
        SPARK_DAEMON_MEMORY="256m",
        SPARK_WORKER_MEMORY="1g",
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
    )
    port, webui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    processes: list[subprocess.Popen[bytes]] = []
    logs = []

    def start(name: str, argv: list[str]) -> None:
        log = (root / f"{name}.log").open("wb")
        logs.append(log)
        processes.append(
            subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        )

    try:
        master = "org.apache.spark.deploy.master.Master"
        start(
            "master",
            [
                launcher,
                master,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(webui),
            ],
        )
        for n in (1, 2):
            worker = "org.apache.spark.deploy.worker.Worker"
            start(
                f"worker{n}",
                [
                    launcher,
                    worker,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    "1",
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(root / f"work{n}"),
                    url,
                ],
            )
        deadline = time.monotonic() + START_TIMEOUT
        while _alive_workers(webui) < 2:
            dead = [p.args[1] for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = (root / "master.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"the Spark cluster did not start ({dead or 'timeout'}): {tail}")
            time.sleep(1)
        yield Cluster(url, driver_env(sys.executable))
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in logs:
            log.close()


@pytest.fixture(scope="session")
def skewed_python(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A Python environment like this one but for its numpy, one release away: a venv
    whose own site-packages holds that numpy, ahead of this environment's packages.
    Returns its interpreter and numpy version."""
    import numpy as np

    other = "2.3.5" if np.__version__ != "2.3.5" else "2.2.6"
    root = tmp_path_factory.mktemp("skewed") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = str(root / "bin" / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    # --target: installs into the new venv only, never touching this environment's numpy.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            site,
            f"numpy=={other}",
        ],
        check=True,
        timeout=600,
    )
    ours = Path(np.__file__).resolve().parents[1]
    (Path(site) / "dockyard-test-shared.pth").write_text(f"{ours}\n")
    return python, other

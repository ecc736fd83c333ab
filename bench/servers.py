"""What each benchmarked server is: how to start it, where to send a prediction, what a
correct answer looks like, and whether it scores CSV over HTTP."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import envs
from bench.models import ROW, ModelFiles

REPO = envs.ROOT.parent
LABELS = {"setosa", "versicolor", "virginica"}

SERVERS = {
    "hello": "bare ASGI hello-world (uvicorn, 1 worker): the ceiling",
    "baseline": "tutorial: Flask dev server, pickle, DataFrame per request",
    "dockyard-sklearn": "Dockyard, scikit-learn runtime",
    "dockyard-fast": "Dockyard, fast runtime (onnxruntime)",
    "dockyard-fast-log": "Dockyard, fast runtime, every prediction logged to SQLite",
    "mlflow": "mlflow models serve",
    "bentoml": "BentoML serve",
}


@dataclass(frozen=True, slots=True)
class Spec:
    server: str
    model: str | None
    port: int
    argv: list[str]
    path: str
    body: bytes
    check: Callable[[bytes], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO
    csv_path: str | None = None
    csv_check: Callable[[bytes, int], bool] | None = None
    start_timeout: float = 120.0
    single: Spec | None = None
    """The same server as one process, where ``argv`` starts several: cold starts are
    measured with it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _base_env(**extra: str) -> dict[str, str]:
    return envs.server_env(**extra)


def hello(port: int) -> Spec:
    return Spec(
        "hello",
        None,
        port,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(envs.ROOT / "peers"),
            "hello:app",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        "/predict",
        json.dumps(ROW).encode(),
        lambda b: b == b'{"hello":"world"}',
        env=_base_env(),
    )


def baseline(port: int, model: ModelFiles) -> Spec:
    env = envs.ENVS["baseline"]
    return Spec(
        "baseline",
        model.kind,
        port,
        [str(env.python), str(envs.ROOT / "baseline" / "app.py")],
        "/predict",
        json.dumps(ROW).encode(),
        lambda b: (_json(b) or {}).get("prediction") in LABELS,
        env=_base_env(MODEL_PATH=str(model.pickle), PORT=str(port)),
        cwd=envs.ROOT / "baseline",
    )


def dockyard(
    port: int, model: ModelFiles, *, runtime: str, workers: int, log: Path | None = None
) -> Spec:
    """``dockyard serve``; with ``log``, every prediction goes to that SQLite file."""
    name = model.bundle_name
    dockyard_bin = Path(sys.executable).with_name("dockyard")

    def check(body: bytes) -> bool:
        doc = _json(body) or {}
        return bool(doc.get("predictions")) and doc["predictions"][0].get("label") in LABELS

    def csv_check(body: bytes, rows: int) -> bool:
        return body.count(b"\n") == rows + 1 and body.startswith(b"sepal_length,")

    extra = {} if log is None else {"DOCKYARD_PREDICTION_LOG": f"sqlite:///{log}"}
    return Spec(
        f"dockyard-{runtime}" + ("-log" if log is not None else ""),
        model.kind,
        port,
        [
            str(dockyard_bin),
            "serve",
            str(model.bundle),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        f"/v1/models/{name}/predict",
        json.dumps(ROW).encode(),
        check,
        env=_base_env(DOCKYARD_RUNTIME="onnx" if runtime == "fast" else runtime, **extra),
        csv_path=f"/v1/models/{name}/predict/csv",
        csv_check=csv_check,
    )


def mlflow(port: int, model_dir: Path, kind: str, *, workers: int) -> Spec:
    env = envs.ENVS["mlflow"]

    def check(body: bytes) -> bool:
        return ((_json(body) or {}).get("predictions") or [None])[0] in LABELS

    def csv_check(body: bytes, rows: int) -> bool:
        return len((_json(body) or {}).get("predictions", [])) == rows

    return Spec(
        "mlflow",
        kind,
        port,
        [
            str(env.bin("mlflow")),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(workers),
        ],
        "/invocations",
        json.dumps({"dataframe_records": [ROW]}).encode(),
        check,
        env=_base_env(PATH=f"{env.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"),
        csv_path="/invocations",
        csv_check=csv_check,
    )


def bentoml(port: int, home: Path, tag: str, kind: str, *, workers: int) -> Spec:
    env = envs.ENVS["bentoml"]
    return Spec(
        "bentoml",
        kind,
        port,
        [
            str(env.bin("bentoml")),
            "serve",
            "bento_service:IrisClassifier",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "/classify",
        json.dumps({"input_series": [list(ROW.values())]}).encode(),
        lambda b: ((_json(b) or {}).get("labels") or [None])[0] in LABELS,
        env=_base_env(
            BENTOML_HOME=str(home),
            BENTOML_DO_NOT_TRACK="True",
            BENCH_BENTO_MODEL=tag,
            BENCH_WORKERS=str(workers),
            PATH=f"{env.path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        ),
        cwd=envs.ROOT / "peers",
    )

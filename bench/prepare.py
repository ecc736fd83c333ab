"""Per-run preparation of the peers' model formats, each in its own environment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench import envs
from bench.models import ModelFiles


class PrepareError(Exception):
    pass


def _run(argv: list[str], *, env: dict[str, str] | None = None, log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=600, check=False
        )
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise PrepareError(" / ".join(tail))


def mlflow_model(model: ModelFiles, workdir: Path) -> Path:
    out = workdir / "mlflow" / model.kind
    out.parent.mkdir(parents=True, exist_ok=True)
    # MLflow refuses to save over a model: one from an earlier run in this workdir goes.
    shutil.rmtree(out, ignore_errors=True)
    _run(
        [
            str(envs.ENVS["mlflow"].python),
            str(envs.ROOT / "peers" / "mlflow_prepare.py"),
            str(model.pickle),
            str(out),
        ],
        log=workdir / "logs" / "mlflow-prepare.log",
    )
    return out


def bento_model(model: ModelFiles, home: Path, base_env: dict[str, str], workdir: Path) -> str:
    tag = f"iris_{model.kind}"
    _run(
        [
            str(envs.ENVS["bentoml"].python),
            str(envs.ROOT / "peers" / "bento_prepare.py"),
            str(model.pickle),
            tag,
        ],
        env={**base_env, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"},
        log=workdir / "logs" / "bentoml-prepare.log",
    )
    return f"{tag}:latest"

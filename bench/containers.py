"""Images and containers, when a Docker engine answers: the size each image adds to the
base, and container cold start (``docker run`` → first correct prediction).

No image registry is reachable here, so both images are built on a local base image
(``DOCKYARD_TEST_BASE_IMAGE``, default ``dockyard-test-base:bookworm``, which
``scripts/ci-system`` makes); without one this part is skipped and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import envs
from bench.load import LoadError, Target, wait_until_answers
from bench.models import ROW, ModelFiles
from bench.servers import LABELS, free_port

BASE = os.environ.get("DOCKYARD_TEST_BASE_IMAGE", "dockyard-test-base:bookworm")
# Where --slim compiles numpy: the base plus compilers (python:X.Y for python:X.Y-slim).
BUILD_BASE = os.environ.get("DOCKYARD_TEST_BUILD_IMAGE", "dockyard-test-build:bookworm")
BUILD_TIMEOUT = 1200
MB = 1e6


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _ok(argv: list[str], timeout: float = 30) -> bool:
    try:
        return _run(argv, timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _dockyard(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dockyard")), *args]


def _size(ref: str) -> int:
    return int(_run(["docker", "image", "inspect", "-f", "{{.Size}}", ref]).stdout.strip())


def _cold_start(image: str, container_port: int, path: str, check: Any) -> float:
    port = free_port()
    name = f"dockyard-bench-{port}"
    started = time.perf_counter()
    done = _run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:{container_port}",
            image,
        ]
    )
    if done.returncode != 0:
        raise LoadError(f"docker run failed: {done.stderr.strip()[-200:]}")
    try:
        return wait_until_answers(
            Target(port, path, json.dumps(ROW).encode()),
            check,
            alive=lambda: _ok(["docker", "container", "inspect", name]),
            timeout=120,
            started=started,
        )
    finally:
        _run(["docker", "rm", "-f", name])


def _tutorial(model: ModelFiles, workdir: Path, base_size: int) -> dict[str, Any]:
    context = workdir / "tutorial-image"
    context.mkdir(exist_ok=True)
    for name in ("Dockerfile", "app.py"):
        shutil.copy(envs.ROOT / "baseline" / name, context / name)
    shutil.copy(model.pickle, context / "model.pkl")
    wheels = envs.CACHE / "tutorial-wheels"
    done = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "-d",
            str(wheels),
            "flask",
            "pandas",
            f"scikit-learn=={version('scikit-learn')}",
        ],
        BUILD_TIMEOUT,
    )
    if done.returncode != 0:
        return {"name": "tutorial", "status": "error", "reason": done.stderr.strip()[-300:]}
    shutil.copytree(wheels, context / "wheels", dirs_exist_ok=True)
    tag = "dockyard-bench-tutorial:latest"
    done = _run(
        ["docker", "build", "-q", "-t", tag, "--build-arg", f"BASE={BASE}", str(context)],
        BUILD_TIMEOUT,
    )
    if done.returncode != 0:
        return {"name": "tutorial", "status": "error", "reason": done.stderr.strip()[-300:]}
    size = _size(tag)
    cold = _cold_start(tag, 5000, "/predict", lambda b: json.loads(b).get("prediction") in LABELS)
    return {
        "name": "tutorial",
        "status": "ok",
        "size_mb": round(size / MB),
        "added_mb": round((size - base_size) / MB),
        "cold_start_s": round(cold, 2),
    }


def _dockyard_image(model: ModelFiles, base_size: int, *, slim: bool = False) -> dict[str, Any]:
    name = "dockyard --slim" if slim else "dockyard"
    tag = f"dockyard-bench-{model.bundle_name}:{'slim' if slim else 'latest'}"
    wheels = envs.CACHE / "dockyard-wheels"
    done = _run(
        _dockyard(
            "build",
            str(model.bundle),
            "--tag",
            tag,
            "--base-image",
            BASE,
            "--wheelhouse",
            str(wheels),
            *(["--slim", "--build-base", BUILD_BASE] if slim else []),
        ),
        BUILD_TIMEOUT,
    )
    if done.returncode != 0:
        return {"name": name, "status": "error", "reason": done.stderr.strip()[-300:]}
    size = _size(tag)

    def check(body: bytes) -> bool:
        return json.loads(body)["predictions"][0]["label"] in LABELS

    cold = _cold_start(tag, 8000, f"/v1/models/{model.bundle_name}/predict", check)
    return {
        "name": name,
        "status": "ok",
        "size_mb": round(size / MB),
        "added_mb": round((size - base_size) / MB),
        "cold_start_s": round(cold, 2),
    }


def measure(files: dict[str, ModelFiles], workdir: Path, *, fast: bool) -> dict[str, Any]:
    if not _ok(["docker", "info"]):
        return {"status": "skipped", "reason": "no Docker engine answers (docker info failed)"}
    if not _ok(_dockyard("build", "--help")):
        return {"status": "skipped", "reason": "this Dockyard has no 'dockyard build' yet"}
    if not _ok(["docker", "image", "inspect", BASE]):
        return {
            "status": "skipped",
            "reason": f"base image {BASE} is missing (scripts/ci-system builds it)",
        }
    model = files.get("lr") or next(iter(files.values()))
    base_size = _size(BASE)
    images = []
    for build in (
        lambda: _tutorial(model, workdir, base_size),
        lambda: _dockyard_image(model, base_size),
        lambda: _dockyard_image(model, base_size, slim=True),
    ):
        try:
            images.append(build())
        except (LoadError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            images.append({"name": "?", "status": "error", "reason": str(exc)[:300]})
    return {
        "status": "ok",
        "reason": f"{model.bundle_name} on base {BASE} "
        f"({round(base_size / MB)} MB); fast runtime {'on' if fast else 'not built'}",
        "base_mb": round(base_size / MB),
        "images": images,
    }

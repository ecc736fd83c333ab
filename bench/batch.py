"""CSV scoring through ``dockyard predict``: wall time of the whole command, process
start included, as a user sees it; the output is checked for one line per row."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import envs
from bench.models import ModelFiles


def _lines(path: Path) -> int:
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            count += block.count(b"\n")
    return count


def dockyard_predict(
    model: ModelFiles, csv_file: Path, rows: int, *, runtime: str, workdir: Path
) -> dict[str, Any]:
    out = workdir / f"scored-{model.kind}-{runtime}.csv"
    env = envs.server_env(DOCKYARD_RUNTIME="onnx" if runtime == "fast" else runtime)
    argv = [
        str(Path(sys.executable).with_name("dockyard")),
        "predict",
        str(model.bundle),
        str(csv_file),
        "-o",
        str(out),
    ]
    result: dict[str, Any] = {"runtime": runtime, "model": model.kind, "rows": rows}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired:
        return {**result, "status": "error", "reason": "took over 900 s"}
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        return {**result, "status": "error", "reason": done.stderr.strip()[-300:]}
    with out.open("rb") as fh:
        header = fh.readline()
    if _lines(out) != rows + 1 or b"predicted_species" not in header:
        return {**result, "status": "error", "reason": "the output does not have one line per row"}
    out.unlink()
    return {
        **result,
        "status": "ok",
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed),
    }

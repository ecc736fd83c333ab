"""What float64 costs the fast runtime: ONNX Runtime on the benchmark's models, exported
in float64 (what ``save_bundle`` chooses where it can) and in float32, against
scikit-learn. In process, one thread, no HTTP: the model call alone.

    PYTHONPATH=src .venv/bin/python -m bench.precision [--seconds 1.0] [--rows 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.baseline.train import build_model, load_data


def rate(call: Callable[[], Any], seconds: float) -> float:
    """Calls per second: the best of three runs of about ``seconds / 3`` each."""
    call()
    best = 0.0
    for _ in range(3):
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds / 3:
            call()
            count += 1
        best = max(best, count / elapsed)
    return best


def main() -> None:
    import dockyard
    from dockyard.bundle import read_metadata
    from dockyard.runtime.export import ONNX_FILE, export_onnx
    from dockyard.runtime.onnx import OnnxModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per measurement")
    parser.add_argument("--rows", type=int, default=10_000, help="rows in the batch measurement")
    args = parser.parse_args()
    X, y = load_data()
    rng = np.random.default_rng(0)
    batch = X.to_numpy()[rng.integers(0, len(X), args.rows)]
    batch = np.clip(batch + rng.normal(0, 0.2, batch.shape), 0.1, None)
    one = batch[:1]
    print(f"{'model':<6}{'runtime':<24}{'1 row: calls/s':>16}{f'{args.rows} rows: rows/s':>22}")
    with tempfile.TemporaryDirectory() as work:
        for kind in ("lr", "rf"):
            model = build_model(kind).fit(X.to_numpy(), y.to_numpy())
            bundle = Path(work) / kind
            dockyard.save_bundle(model, X, y, name=f"iris-{kind}", path=bundle)
            features = read_metadata(bundle).features
            runners: dict[str, Callable[[np.ndarray], Any]] = {"scikit-learn": model.predict_proba}
            for precision in ("float64", "float32"):
                directory = Path(work) / f"{kind}-{precision}"
                directory.mkdir()
                runtime = export_onnx(
                    directory, model, X, features, "array", "classification", precisions=[precision]
                )
                if runtime.kind != "onnx":
                    print(f"{kind:<6}onnx {precision:<19}not exported: {runtime.reason[:60]}")
                    continue
                onnx = OnnxModel(directory / ONNX_FILE, pad_rows=runtime.pad_rows)
                runners[f"onnx {precision} (pad {runtime.pad_rows})"] = onnx.run_matrix
                if runtime.pad_rows > 1:  # what the padding costs
                    unpadded = OnnxModel(directory / ONNX_FILE)
                    runners[f"onnx {precision} (pad 1)"] = unpadded.run_matrix
            for name, run in runners.items():
                single = rate(lambda run=run: run(one), args.seconds)
                rows = rate(lambda run=run: run(batch), args.seconds) * len(batch)
                print(f"{kind:<6}{name:<24}{single:>16,.0f}{rows:>22,.0f}")


if __name__ == "__main__":
    main()

"""Numeric CSV readers on the same bytes: Dockyard's vectorised parser
(``dockyard.batch.numeric``) against pandas' C parser, pandas' pyarrow engine,
``pyarrow.csv`` and ``numpy.loadtxt``. For each: rows/s (CPU time, best of ``--repeats``,
in chunks of ``--chunk-rows`` rows as the CSV path reads them) and whether every value is
bit for bit what ``float()`` gives.

Three files of four columns: the benchmark's Iris file (one decimal, every line the same
layout), Iris-like values with 0 to 3 decimals (layouts varying line by line), and
values with 15 significant digits (the longest the vectorised parser takes).

    PYTHONPATH=src:. .venv/bin/python -m bench.csv_parsers --rows 1000000
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from dockyard.batch.numeric import parse_lines

Reader = Callable[[bytes], np.ndarray | None]


def files(rows: int) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 8.0, (rows, 4))
    decimals = rng.integers(0, 4, (rows, 4))
    varied = np.round(base * 10.0**decimals) / 10.0**decimals
    long = rng.uniform(-999, 999, (rows, 4))

    def text(lines: Sequence[str]) -> bytes:
        return ("\n".join(lines) + "\n").encode()

    return {
        "one decimal, one layout": text([",".join(f"{v:.1f}" for v in r) for r in base]),
        "0-3 decimals, varied layout": text([",".join(f"{v:g}" for v in r) for r in varied]),
        "15 significant digits": text([",".join(f"{v:.12f}" for v in r) for r in long]),
    }


def readers() -> dict[str, Reader]:
    found: dict[str, Reader] = {
        "dockyard numeric.py": lambda b: parse_lines(b, 4, (0, 1, 2, 3)),
        "numpy.loadtxt": lambda b: np.loadtxt(io.BytesIO(b), delimiter=",", ndmin=2),
    }
    if importlib.util.find_spec("pandas") is not None:
        import pandas as pd

        options = {"header": None, "dtype": np.float64, "na_filter": False}
        found["pandas read_csv engine=c"] = lambda b: pd.read_csv(
            io.BytesIO(b), engine="c", **options
        ).to_numpy()
        if importlib.util.find_spec("pyarrow") is not None:
            found["pandas read_csv engine=pyarrow"] = lambda b: pd.read_csv(
                io.BytesIO(b), engine="pyarrow", header=None, dtype=np.float64
            ).to_numpy()
    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow.csv as pacsv

        names = pacsv.ReadOptions(autogenerate_column_names=True)
        found["pyarrow.csv.read_csv"] = lambda b: np.column_stack(
            [c.to_numpy() for c in pacsv.read_csv(io.BytesIO(b), read_options=names).columns]
        )
    return found


def chunks(data: bytes, rows: int) -> list[bytes]:
    lines = data.splitlines(keepends=True)
    return [b"".join(lines[i : i + rows]) for i in range(0, len(lines), rows)]


def measure(read: Reader, parts: list[bytes], repeats: int) -> tuple[float, np.ndarray | None]:
    best = float("inf")
    out: list[np.ndarray | None] = []
    for _ in range(repeats):
        started = time.process_time()
        out = [read(part) for part in parts]
        best = min(best, time.process_time() - started)
    if any(x is None for x in out):
        return best, None
    return best, np.concatenate([x for x in out if x is not None])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.csv_parsers", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.rows:,} rows, chunks of {args.chunk_rows:,}, CPU time best of {args.repeats}")
    print("\n| file | reader | rows/s | bit-exact vs float() |")
    print("|---|---|---|---|")
    for name, data in files(args.rows).items():
        exact = np.array([float(c) for c in data.replace(b"\n", b",").split(b",")[:-1]])
        exact = exact.reshape(-1, 4)
        parts = chunks(data, args.chunk_rows)
        for reader, read in readers().items():
            seconds, values = measure(read, parts, args.repeats)
            if values is None:
                verdict = "declined (falls back to the csv module)"
            elif values.shape == exact.shape and values.tobytes() == exact.tobytes():
                verdict = "yes"
            else:
                verdict = f"no ({int((values != exact).sum()):,} values differ)"
            print(f"| {name} | {reader} | {args.rows / seconds / 1e6:.1f}M | {verdict} |")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Defaults that the server's settings and the command line share, in a module that
imports nothing but :mod:`os`: each is defined once, and reading one costs neither command
its start-up."""

from __future__ import annotations

import os
from typing import Final

CSV_CHUNK_ROWS: Final = 10_000
"""Rows scored at a time in CSV and Parquet scoring, by the server and ``dockyard predict``
alike: small enough for a chunk's arrays to stay in the CPU caches (10,000 Iris rows
score about 10 % faster per row than 50,000), large enough to amortise each model call."""

PARQUET_BATCH_ROWS: Final = 65_536
"""Rows scored at a time in Parquet and Spark scoring: Arrow batches need no parsing, so
fewer, larger ones keep ``dockyard predict``'s scoring threads busy (1M Iris rows in
0.61 s, against 0.66 s in batches of 10,000), and 64k Iris rows are still about 2 MB."""

MAX_SCORING_THREADS: Final = 4
"""Most threads (or processes) one large scoring job uses: past a few, they mostly wait on
the one that reads or writes."""


def scoring_threads() -> int:
    """Threads (or processes) for one large scoring job (a CSV upload, a Parquet or CSV
    file): the cores this process may run on (a container's CPU set, not the host's), at
    most :data:`MAX_SCORING_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_SCORING_THREADS))


__all__ = ["CSV_CHUNK_ROWS", "MAX_SCORING_THREADS", "PARQUET_BATCH_ROWS", "scoring_threads"]

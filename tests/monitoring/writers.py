"""A writer process for the several-processes test: imports the store and nothing heavy, so
that spawning it is quick."""

from __future__ import annotations

import time

from dockyard.monitoring.store import LoggedRow, open_store


def write(url: str, worker: int, batches: int, rows: int) -> None:
    """Migrate (as each server worker does at start), then write ``batches`` transactions."""
    store = open_store(url)
    store.migrate()
    for b in range(batches):
        store.insert_predictions(
            [
                LoggedRow(
                    f"w{worker}-b{b}",
                    n,
                    time.time(),
                    "m",
                    "1",
                    "ab" * 32,
                    "sklearn",
                    "json",
                    200,
                    1.0,
                    {"x": n},
                    n,
                    {"label": n},
                )
                for n in range(rows)
            ]
        )
    store.close()

"""The real prediction-log store on a SQLite file, migrated, for tests that fill it by hand
(the monitoring pages, feedback)."""

from __future__ import annotations

from pathlib import Path

from dockyard.monitoring.store import LoggedRow, Store, open_store

__all__ = ["LoggedRow", "SQLiteLog"]


def SQLiteLog(path: Path) -> Store:
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    return store

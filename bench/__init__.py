"""Dockyard's benchmark suite: ``bench/run`` (or ``python -m bench``); see docs/performance.md."""

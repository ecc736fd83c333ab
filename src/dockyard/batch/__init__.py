"""Batch scoring: CSV in, CSV out, in bounded memory."""

from __future__ import annotations

from dockyard.batch.csv import score_csv

__all__ = ["score_csv"]

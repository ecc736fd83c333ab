"""Which format a ``dockyard predict`` run reads and writes: CSV or Parquet. Needs
nothing beyond the standard library: a CSV run works without pyarrow (which a serving
image does not install)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dockyard.errors import UsageError

Format = Literal["csv", "parquet"]
FORMATS = ("auto", "csv", "parquet")
PARQUET_SUFFIXES = (".parquet", ".pq")


def file_format(flag: str, source: Path, output: Path) -> Format:
    """``flag`` (``auto``, ``csv`` or ``parquet``); with ``auto``, the format the input's
    or output's extension names (``.parquet``, ``.pq``; anything else is CSV). Input and
    output are of the one format."""
    if flag not in FORMATS:
        raise UsageError(f"--format {flag!r}: choose auto, csv or parquet.")
    if flag != "auto":
        return "parquet" if flag == "parquet" else "csv"
    kinds = {_by_suffix(p) for p in (source, output) if str(p) != "-"} - {None}
    if len(kinds) > 1:
        raise UsageError(
            f"{source} and {output} are of different formats; scoring writes the format it reads.",
            hint="Give both files the same extension, or choose one with --format.",
        )
    return "parquet" if kinds == {"parquet"} else "csv"


def _by_suffix(path: Path) -> Format | None:
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    return "csv" if suffix in (".csv", ".txt") else None


def require_pyarrow() -> None:
    """Refuse Parquet where pyarrow is not installed, saying how to install it."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(
            "Parquet needs pyarrow, which is not installed.",
            hint="Install it with: pip install 'dockyard[parquet]'.",
        ) from None

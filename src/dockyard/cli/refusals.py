"""A refused bundle's error, worded in the flags of the command that loaded it.

The library says what was refused and why (:class:`UntrustedTypes` carries the types);
only the command knows which flag accepts the risk.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.errors import EnvironmentMismatch, UntrustedTypes


@contextmanager
def in_flags(*, allow_version_mismatch: bool) -> Iterator[None]:
    """Name ``--trust`` (and, where the command has it, ``--allow-version-mismatch``) in the
    hint of a bundle refused inside the block."""
    try:
        yield
    except UntrustedTypes as exc:
        if exc.types:
            flags = " ".join(f"--trust {name}" for name in exc.types)
            exc.hint = f"If you trust where it came from, pass {flags}."
        raise
    except EnvironmentMismatch as exc:
        if allow_version_mismatch:
            accept = "Or pass --allow-version-mismatch if you accept the risk."
            exc.hint = f"{exc.hint} {accept}" if exc.hint else accept
        raise

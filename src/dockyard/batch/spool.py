"""Score a CSV once and keep the answer: for a server, which must see every row scored
(so that a bad line late in a file is still a clean error naming it) before it sends the
first byte.

The scored CSV goes into a spooled temporary file: in memory up to ``memory_bytes``, on
disk (``TMPDIR``) beyond. It is then answered whole or streamed back from the spool,
never scored a second time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from typing import IO

from dockyard.batch.csv import DEFAULT_CHUNK_ROWS, iter_scored
from dockyard.batch.runtime_column import runtime_blocks
from dockyard.predictor import Prediction, Predictor

# The scored CSV is held in memory up to this size, and spooled to disk beyond.
SPOOL_MEMORY_BYTES = 64 << 20
# Blocks read back from the spool when it streams.
READ_BYTES = 1 << 20


class ScoredCSV:
    """A scored CSV held in a spool: :meth:`whole` when it is small, otherwise
    :meth:`blocks`. Closing it (which :meth:`blocks` does at the end) frees the spool."""

    def __init__(self, spool: IO[bytes], size: int, rows: int) -> None:
        self._spool = spool
        self.size = size
        """Bytes of scored CSV, header included."""
        self.rows = rows
        """Data rows scored."""

    def whole(self, limit: int) -> bytes | None:
        """All of the scored CSV if it is at most ``limit`` bytes (the spool is then
        closed); otherwise ``None``, and it stays open for :meth:`blocks`."""
        if self.size > limit:
            return None
        try:
            self._spool.seek(0)
            return self._spool.read()
        finally:
            self.close()

    def blocks(self, size: int = READ_BYTES) -> Iterator[bytes]:
        """The scored CSV in blocks of ``size`` bytes; the spool is closed at the end, or
        when the iterator is closed early (a client that went away)."""
        try:
            self._spool.seek(0)
            while block := self._spool.read(size):
                yield block
        finally:
            self.close()

    def close(self) -> None:
        self._spool.close()


def score_to_spool(
    predictor: Predictor,
    source: IO[bytes],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    escape_formulas: bool = True,
    runtime_column: bool = False,
    on_chunk: Callable[[Prediction], None] | None = None,
    memory_bytes: int = SPOOL_MEMORY_BYTES,
) -> ScoredCSV:
    """Score every row of ``source`` into a :class:`ScoredCSV`, raising any error (a bad
    row, a malformed file) before anything is kept; ``on_chunk`` sees each chunk's
    prediction as it is scored. ``runtime_column``: append the ``runtime`` column (see
    :mod:`dockyard.batch.runtime_column`); ``escape_formulas``: see
    :func:`~dockyard.batch.csv.iter_scored`. Memory holds at most ``memory_bytes`` of
    the answer (plus a chunk); the rest goes to a temporary file."""
    # The spool outlives this function when it succeeds: ScoredCSV closes it.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=memory_bytes)  # noqa: SIM115
    try:
        blocks = iter_scored(
            predictor, source, chunk_rows=chunk_rows, escape_formulas=escape_formulas
        )
        if runtime_column:
            blocks = runtime_blocks(blocks, predictor.runtime)
        size = rows = 0
        for block, count, prediction in blocks:
            spool.write(block)
            size += len(block)
            rows += count
            if prediction is not None and on_chunk is not None:
                on_chunk(prediction)
    except BaseException:
        spool.close()
        raise
    return ScoredCSV(spool, size, rows)

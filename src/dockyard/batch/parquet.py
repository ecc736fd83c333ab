"""Score a Parquet file into another, batch by batch: each row comes out with the
prediction columns of CSV scoring appended (typed, see :mod:`dockyard.batch.arrow`), and
every other column as it was. Memory is bounded by the batch and row-group sizes, not the
file size.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dockyard.batch.arrow import DEFAULT_BATCH_ROWS, ArrowScorer
from dockyard.errors import BadRequest, UsageError
from dockyard.predictor import Predictor

# Scored batches are gathered into row groups of about this many rows: readers skip and
# parallelise by row group, and tiny ones make the file slow to read.
ROW_GROUP_ROWS = 262_144


def iter_scored(
    predictor: Predictor, source: Path, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> tuple[ArrowScorer, Iterator[pa.RecordBatch]]:
    """The scorer for ``source``'s schema, and its batches scored, read one at a time."""
    try:
        # pre_buffer (the default) keeps every row group's bytes it has read until the
        # file is closed: memory would grow with the file.
        file = pq.ParquetFile(source, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadRequest(f"{source} is not a readable Parquet file ({exc}).") from None
    scorer = ArrowScorer(predictor, file.schema_arrow, what="The Parquet file")

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from file.iter_batches(batch_size=batch_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise BadRequest(f"{source} cannot be read: {exc}.") from None
        finally:
            file.close()

    return scorer, scorer.score_all(batches(), batch_rows=batch_rows)


def score_parquet(
    predictor: Predictor,
    source: Path,
    output: Path,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Score the Parquet file ``source`` into ``output``, replaced only once complete;
    return the number of rows."""
    if "-" in (str(source), str(output)):
        raise UsageError(
            "Parquet is read from and written to files, not standard input or output.",
            hint="Name both files, e.g. dockyard predict BUNDLE data.parquet -o scored.parquet.",
        )
    if not source.is_file():
        raise UsageError(f"Input file {source} does not exist.")
    scorer, scored = iter_scored(predictor, source, batch_rows=batch_rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    os.close(fd)
    rows = 0
    try:
        # Dictionary encoding pays for text (labels, IDs); for floats, nearly all distinct,
        # it is built, found useless and dropped: three times the writing time.
        text = [f.name for f in scorer.schema if pa.types.is_string(f.type)]
        with pq.ParquetWriter(tmp, scorer.schema, use_dictionary=text) as writer:
            pending: list[pa.RecordBatch] = []
            size = 0
            for batch in scored:
                pending.append(batch)
                size += batch.num_rows
                if size >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(pending), row_group_size=size)
                    rows, pending, size = _done(rows, size, on_rows), [], 0
            if pending:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=size)
                rows = _done(rows, size, on_rows)
        os.replace(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return rows


def _done(rows: int, more: int, on_rows: Callable[[int], None] | None) -> int:
    if on_rows is not None:
        on_rows(more)
    return rows + more

"""Score a Parquet file into another, batch by batch: each row comes out with the
prediction columns of CSV scoring appended (typed, see :mod:`dockyard.batch.arrow`), and
every other column as it was. Memory is bounded by the batch and row-group sizes, not the
file size.

Batches are scored on a few threads, in file order: ONNX Runtime, numpy and the Parquet
reader and writer release the GIL, so on two cores scoring, reading and writing overlap.
At most ``threads + AHEAD`` batches are in flight; the first bad row in file order is the one
reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dockyard import files
from dockyard.batch.arrow import DEFAULT_BATCH_ROWS, ArrowScorer
from dockyard.defaults import scoring_threads
from dockyard.errors import BadRequest, UsageError
from dockyard.predictor import Predictor

# Scored batches are gathered into row groups of about this many rows: readers skip and
# parallelise by row group, and tiny ones make the file slow to read.
ROW_GROUP_ROWS = 262_144

# Batches in flight beyond one per thread: while the writer writes a row group (which
# releases the GIL), the threads go on scoring the next ones.
AHEAD = 3


def iter_scored(
    predictor: Predictor,
    source: Path,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
) -> tuple[ArrowScorer, Iterator[pa.RecordBatch]]:
    """The scorer for ``source``'s schema, and its batches scored in file order, read one
    at a time and scored on ``threads`` threads (default: :func:`dockyard.defaults.scoring_threads`)."""
    try:
        # pre_buffer (the default) keeps every row group's bytes it has read until the
        # file is closed: memory would grow with the file.
        file = pq.ParquetFile(source, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BadRequest(f"{source} is not a readable Parquet file ({exc}).") from None
    scorer = ArrowScorer(predictor, file.schema_arrow, what="The Parquet file")

    def parts() -> Iterator[tuple[pa.RecordBatch, int]]:
        row = 0
        try:
            for batch in file.iter_batches(batch_size=batch_rows):
                yield batch, row
                row += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise BadRequest(f"{source} cannot be read: {exc}.") from None
        finally:
            file.close()

    def score(part: pa.RecordBatch, first_row: int) -> pa.RecordBatch:
        return scorer.score(part, first_row=first_row)

    return scorer, in_order(score, parts(), threads or scoring_threads())


def in_order(
    score: Callable[[pa.RecordBatch, int], pa.RecordBatch],
    parts: Iterator[tuple[pa.RecordBatch, int]],
    threads: int,
) -> Iterator[pa.RecordBatch]:
    """``score(batch, first_row)`` of each part, in order, computed on ``threads`` threads
    with at most ``threads + AHEAD`` parts in flight. An error is raised where its part comes
    in order; the parts after it are cancelled."""
    if threads <= 1:
        for batch, first_row in parts:
            yield score(batch, first_row)
        return
    pending: deque[Future[pa.RecordBatch]] = deque()
    with ThreadPoolExecutor(threads, thread_name_prefix="dockyard-score") as pool:
        try:
            for batch, first_row in parts:
                pending.append(pool.submit(score, batch, first_row))
                if len(pending) == threads + AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def score_parquet(
    predictor: Predictor,
    source: Path,
    output: Path,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
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
    scorer, scored = iter_scored(predictor, source, batch_rows=batch_rows, threads=threads)
    output.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    # Dictionary encoding pays for text (labels, IDs); for floats, nearly all distinct,
    # it is built, found useless and dropped: three times the writing time.
    text = [f.name for f in scorer.schema if pa.types.is_string(f.type)]
    with (
        files.replacing(output) as tmp,
        pq.ParquetWriter(tmp, scorer.schema, use_dictionary=text) as writer,
    ):
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
    return rows


def _done(rows: int, more: int, on_rows: Callable[[int], None] | None) -> int:
    if on_rows is not None:
        on_rows(more)
    return rows + more

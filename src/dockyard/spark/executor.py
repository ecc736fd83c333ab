"""What runs on each Spark executor: the bundle's copy found, verified and checked
against this executor's packages once per Python worker, then Arrow batches scored.

Nothing here trusts the executor to be like the driver: the archive's ``bundle.json``
must be the one the driver verified (same sha256), every file must match its recorded
checksum, and this executor's scikit-learn and numpy (or ONNX Runtime, for the verified
ONNX export) must be exactly the versions the bundle records. A refusal names the
executor's host and both versions, and fails the job.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dockyard.batch.arrow import ArrowScorer
from dockyard.bundle.store import bundle_digest
from dockyard.errors import BundleIntegrityError, DockyardError, InvalidInput
from dockyard.predictor import Predictor
from dockyard.predictor.golden import check_golden
from dockyard.runtime.loading import RuntimeChoice


class ExecutorRefused(DockyardError):
    """An executor cannot score with the bundle it was sent (integrity or versions)."""

    exit_code = 3
    code = "spark_executor_refused"


# Loaded once per Python worker process (Spark reuses them between tasks), by archive.
_PREDICTORS: dict[str, Predictor] = {}


def where() -> str:
    """This executor, for messages: its host and process."""
    return f"host {socket.gethostname()} (pid {os.getpid()})"


def load(archive: str, digest: str, runtime: RuntimeChoice, trusted: Sequence[str]) -> Predictor:
    """The predictor for the shipped bundle ``archive`` (its name in ``SparkFiles``)."""
    found = _PREDICTORS.get(archive)
    if found is not None:
        return found
    from pyspark import SparkFiles

    root = Path(SparkFiles.get(archive))
    try:
        if bundle_digest(root) != digest:
            raise BundleIntegrityError(
                f"its bundle.json has sha256 {bundle_digest(root)[:12]}…, the driver's {digest[:12]}…"
            )
        predictor = Predictor.from_path(root, runtime=runtime, trusted_types=trusted)
        # The bundle's own answers to its probe rows, recomputed here: an executor whose
        # arithmetic differs is refused before it scores a row.
        check_golden(predictor)
    except DockyardError as exc:
        raise ExecutorRefused(
            f"Spark executor on {where()} refused bundle {archive}: {exc.message}",
            hint="Give every executor the packages the bundle records "
            "('dockyard inspect BUNDLE' lists them), or the image 'dockyard build' makes.",
        ) from None
    _PREDICTORS[archive] = predictor
    return predictor


@dataclass(frozen=True, slots=True)
class BatchScorer:
    """What the Arrow UDF runs on the executors (pickled with its fields only): feature
    columns in, one struct column of the predictions out. Spark keeps the other columns
    on its side, so only the features cross to Python and only the predictions back."""

    archive: str
    digest: str
    batch_rows: int
    runtime: RuntimeChoice
    trusted: tuple[str, ...]
    rows: Any = None
    """A Spark accumulator counting the rows scored, or ``None``."""

    def __call__(self, batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        predictor = load(self.archive, self.digest, self.runtime, self.trusted)
        names = list(predictor.feature_names)
        schema: pa.Schema | None = None
        scorer: ArrowScorer | None = None
        counted = 0
        try:
            for arrays in batches:
                batch = pa.RecordBatch.from_arrays(list(arrays), names=names)
                if scorer is None or batch.schema != schema:
                    schema = batch.schema
                    scorer = ArrowScorer(predictor, schema, what="The DataFrame")
                parts = []
                for start in range(0, batch.num_rows, self.batch_rows):
                    part = batch.slice(start, self.batch_rows)
                    columns = scorer.predictions(part, first_row=counted)
                    parts.append(pa.StructArray.from_arrays(columns, fields=scorer.fields))
                    counted += part.num_rows
                yield pa.concat_arrays(parts) if len(parts) != 1 else parts[0]
        except InvalidInput as exc:
            raise InvalidInput(
                exc.errors, message=f"In partition {_partition()}, rows counted from 0: {exc}"
            ) from None
        if self.rows is not None:
            self.rows.add(counted)


def arrow_function(scorer: BatchScorer) -> Callable[..., Iterator[pa.Array]]:
    """``scorer`` as a function whose type hints tell Spark it is an iterator Arrow UDF."""

    def predict(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        return scorer(batches)

    return predict


def _partition() -> int | None:
    from pyspark import TaskContext

    context = TaskContext.get()
    return context.partitionId() if context is not None else None

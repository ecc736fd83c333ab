"""The driver's side of Spark scoring: the bundle verified here, shipped to the
executors by Spark, and an Arrow UDF whose struct of predictions becomes the appended
columns."""

from __future__ import annotations

import atexit
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.batch.arrow import DEFAULT_BATCH_ROWS, check_columns, output_fields
from dockyard.predictor import Predictor
from dockyard.runtime.loading import RuntimeChoice
from dockyard.spark.executor import BatchScorer, arrow_function

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import DataFrame

# Archives already added to a Spark application, by (application, bundle digest): Spark
# refuses a second file of the same name, and executors fetch each one once.
_SHIPPED: dict[tuple[str, str], str] = {}


def score(
    df: DataFrame,
    bundle: str | os.PathLike[str],
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    runtime: RuntimeChoice = "auto",
    trusted_types: Sequence[str] = (),
    rows: Any = None,
) -> DataFrame:
    """``df`` with the prediction columns of CSV scoring appended (typed as in
    :mod:`dockyard.batch.arrow`); every other column as it was.

    The bundle is verified here, sent to the executors with ``SparkContext.addArchive``,
    and verified again on each executor, which also refuses to score if its own
    scikit-learn and numpy (or ONNX Runtime) differ from the bundle's. ``batch_rows``
    bounds the rows scored at a time on an executor (Spark's Arrow batches, whose size is
    ``spark.sql.execution.arrow.maxRecordsPerBatch``, are cut to it). ``rows``: a Spark
    accumulator that counts the rows scored.
    """
    from pyspark.sql.functions import col
    from pyspark.sql.pandas.functions import arrow_udf
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    path = Path(bundle)
    predictor = Predictor.from_path(path, runtime=runtime, trusted_types=trusted_types)
    check_columns(predictor, df.columns, "The DataFrame")
    fields = output_fields(predictor)
    struct = StructType(
        [StructField(f.name, from_arrow_type(f.type), nullable=False) for f in fields]
    )
    digest = predictor.digest
    archive = ship(df.sparkSession.sparkContext, path, digest)
    scorer = BatchScorer(archive, digest, batch_rows, runtime, tuple(trusted_types), rows)
    # Nondeterministic: Spark then evaluates it once, not once per field taken out of it.
    # PySpark's stubs only know arrow_udf with an explicit function type, which it warns
    # against at run time: the function's type hints are what Spark reads.
    make: Any = arrow_udf
    predict = make(arrow_function(scorer), struct).asNondeterministic()
    hidden = f"__dockyard_{digest[:12]}"
    features = [col(f"`{name}`") for name in predictor.feature_names]
    scored = df.withColumn(hidden, predict(*features))
    return scored.select(
        *(col(f"`{name}`") for name in df.columns),
        *(col(f"`{hidden}`.`{f.name}`").alias(f.name) for f in fields),
    )


def ship(context: SparkContext, bundle: Path, digest: str) -> str:
    """Add ``bundle`` to the application as an archive (once); return its name, under
    which executors find it unpacked (``SparkFiles.get``)."""
    key = (context.applicationId, digest)
    name = _SHIPPED.get(key)
    if name is not None:
        return name
    name = f"dockyard-bundle-{digest[:16]}.tar"
    directory = Path(tempfile.mkdtemp(prefix="dockyard-spark-"))
    # Executors fetch it from the driver when they first need it: it stays until exit.
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    with tarfile.open(directory / name, "w") as tar:
        for file in sorted(bundle.rglob("*")):
            if file.is_file():
                tar.add(file, arcname=file.relative_to(bundle).as_posix(), recursive=False)
    context.addArchive(str(directory / name))
    _SHIPPED[key] = name
    return name

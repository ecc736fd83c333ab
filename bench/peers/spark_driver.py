"""A Spark driver that times a scoring job, run in the scorer's own environment: Dockyard
(``dockyard.spark.score``) or MLflow (``mlflow.pyfunc.spark_udf``, ``env_manager="local"``);
or, as floors, the same job with no model: ``copy`` (read and write, no Python) and
``constant`` (an Arrow UDF that answers a constant label and three probabilities, the
shape of Dockyard's answer, so Spark's exchange with Python costs what it does for
Dockyard).

    python spark_driver.py dockyard|mlflow|copy|constant MASTER_URL MODEL INPUT OUTDIR REPEATS SPLIT_BYTES [PID...]

Reads the Parquet INPUT in splits of at most SPLIT_BYTES (the same for both scorers, so
that every worker gets a share of a small file), scores it REPEATS times into OUTDIR/N
(the first run pays for the executors' Python workers and the model's loading), and
prints one JSON line: the seconds of each run, the CPU seconds the processes PID... (the
cluster's workers) and their descendants used during it, and the rows scored. Standard
library and PySpark only: it runs in MLflow's environment too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def cpu_seconds(roots: list[int]) -> float:
    """CPU time of ``roots`` and their descendants (an exited child's time counts in its
    parent's once reaped)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    ticks = 0
    todo = list(roots)
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ticks += sum(int(f) for f in stat[stat.rindex(b")") + 2 :].split()[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def constant_answers() -> Any:
    """``frame`` with a constant label and three probabilities appended by an iterator
    Arrow UDF returning a struct, selected as ``dockyard.spark.score`` does."""
    # PySpark reads the UDF's type hints: Iterator and pa are the module's, not local.
    from pyspark.sql.functions import arrow_udf, col
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    names = ["label", "p0", "p1", "p2"]
    struct = StructType(
        [StructField("label", StringType(), False)]
        + [StructField(n, DoubleType(), False) for n in names[1:]]
    )

    def answer(batches: Iterator[tuple[pa.Array, ...]]) -> Iterator[pa.Array]:
        for arrays in batches:
            rows = len(arrays[0])
            label = pa.DictionaryArray.from_arrays(
                pa.array([0] * rows, pa.int32()), pa.array(["setosa"])
            ).dictionary_decode()
            zeros = pa.array([0.0] * rows, pa.float64())
            yield pa.StructArray.from_arrays([label, zeros, zeros, zeros], names=names)

    make: Any = arrow_udf
    udf = make(answer, struct).asNondeterministic()

    def scored(frame: Any) -> Any:
        hidden = frame.withColumn("__answer", udf(*(col(f) for f in FEATURES)))
        return hidden.select(*frame.columns, *(col(f"__answer.{n}").alias(n) for n in names))

    return scored


def main() -> None:
    scorer, master, model, source, outdir, repeats, split = sys.argv[1:8]
    roots = [int(pid) for pid in sys.argv[8:]]
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(f"bench {scorer}")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.files.maxPartitionBytes", split)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(source)
    rows = df.count()
    partitions = df.rdd.getNumPartitions()
    if scorer == "dockyard":
        from dockyard.spark import score

        def scored(frame: Any) -> Any:
            return score(frame, model)
    elif scorer == "copy":

        def scored(frame: Any) -> Any:
            return frame
    elif scorer == "constant":
        scored = constant_answers()
    else:
        import mlflow.pyfunc

        udf = mlflow.pyfunc.spark_udf(spark, model, env_manager="local", result_type="string")

        def scored(frame: Any) -> Any:
            return frame.withColumn("prediction", udf(*FEATURES))

    seconds = []
    cpu = []
    for n in range(int(repeats)):
        before = cpu_seconds(roots)
        started = time.perf_counter()
        scored(df).write.parquet(f"{outdir}/{n}")
        seconds.append(round(time.perf_counter() - started, 3))
        cpu.append(round(cpu_seconds(roots) - before, 2))
    check = spark.read.parquet(f"{outdir}/0")
    column = {"dockyard": "predicted_species", "mlflow": "prediction"}.get(scorer)
    labels = {r[0] for r in check.select(column).distinct().collect()} if column else set()
    spark.stop()
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": rows,
        "partitions": partitions,
        "labels": sorted(labels),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""A Spark driver that times a scoring job, run in the scorer's own environment: Dockyard
(``dockyard.spark.score``) or MLflow (``mlflow.pyfunc.spark_udf``, ``env_manager="local"``).

    python spark_driver.py dockyard|mlflow MASTER_URL MODEL INPUT OUTDIR REPEATS

Reads the Parquet INPUT, scores it REPEATS times into OUTDIR/N (the first run pays for
the executors' Python workers and the model's loading), and prints one JSON line: the
seconds of each run, and the rows scored.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main() -> None:
    scorer, master, model, source, outdir, repeats = sys.argv[1:7]
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(master)
        .appName(f"bench {scorer}")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(source)
    rows = df.count()
    if scorer == "dockyard":
        from dockyard.spark import score

        def scored(frame: Any) -> Any:
            return score(frame, model)
    else:
        import mlflow.pyfunc

        udf = mlflow.pyfunc.spark_udf(spark, model, env_manager="local", result_type="string")

        def scored(frame: Any) -> Any:
            return frame.withColumn("prediction", udf(*FEATURES))

    seconds = []
    for n in range(int(repeats)):
        started = time.perf_counter()
        scored(df).write.parquet(f"{outdir}/{n}")
        seconds.append(round(time.perf_counter() - started, 3))
    check = spark.read.parquet(f"{outdir}/0")
    column = "predicted_species" if scorer == "dockyard" else "prediction"
    labels = {r[0] for r in check.select(column).distinct().collect()}
    spark.stop()
    print(json.dumps({"seconds": seconds, "rows": rows, "labels": sorted(labels)}))


if __name__ == "__main__":
    main()

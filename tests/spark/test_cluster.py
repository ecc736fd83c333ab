"""Scoring on a real Spark standalone cluster (two workers on 127.0.0.1): a million rows
give every label local ``dockyard predict`` gives; an executor whose numpy differs from
the bundle's refuses, naming its host and both versions; the DataFrame API appends the
typed columns and names a bad row."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dockyard.cli.main import main
from tests.batch.test_parquet import FEATURES, iris_rows, iris_table
from tests.spark.conftest import Cluster

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    # The test environment has the serving image's pandas 3, of which PySpark warns on
    # the driver; the spark extra pins pandas 2. Scoring itself never uses pandas.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

ROWS = 1_000_000


def on_spark(
    cluster: Cluster, bundle: Path, source: Path, output: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dockyard", "predict", str(bundle), str(source)]
    return subprocess.run(
        [*argv, "-o", str(output), "--spark", cluster.url],
        env={**cluster.env, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_a_million_rows_match_local_predict(
    cluster: Cluster, iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(iris_table(ROWS), source, row_group_size=125_000)
    local = tmp_path / "local.parquet"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(local)]) == 0
    capsys.readouterr()
    done = on_spark(cluster, iris_bundle, source, tmp_path / "spark")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Scored {ROWS:,} rows on {cluster.url}" in done.stderr
    parts = sorted((tmp_path / "spark").glob("part-*.parquet"))
    assert len(parts) >= 2  # split between the two executors' tasks
    expected = pq.read_table(local)
    scored = pq.read_table(tmp_path / "spark").sort_by("id")
    # The same names and types (Spark makes every column it computes nullable).
    assert [(f.name, f.type) for f in scored.schema] == [(f.name, f.type) for f in expected.schema]
    assert scored.num_rows == ROWS
    assert scored["predicted_species"].equals(expected["predicted_species"])
    assert scored.select(["id", *FEATURES, "note"]).equals(
        expected.select(["id", *FEATURES, "note"])
    )
    for name in ("probability_setosa", "probability_versicolor", "probability_virginica"):
        # ONNX Runtime computes in float32; batches cut elsewhere round the last bits apart.
        assert np.allclose(scored[name].to_numpy(), expected[name].to_numpy(), atol=1e-6)


def test_a_small_file_is_split_across_the_executors(
    cluster: Cluster, iris_bundle: Path, tmp_path: Path
) -> None:
    """A file far under Spark's 4 MiB per-file open cost is still scored by both workers,
    one task each, rather than by one while the other idles."""
    source = tmp_path / "in.parquet"
    pq.write_table(iris_table(40_000), source, row_group_size=10_000)
    done = on_spark(cluster, iris_bundle, source, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert len(parts) == 2
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in parts) == 40_000


def test_an_executor_with_another_numpy_is_refused(
    cluster: Cluster, iris_bundle: Path, tmp_path: Path, skewed_python: tuple[str, str]
) -> None:
    python, other = skewed_python
    source = tmp_path / "in.parquet"
    pq.write_table(iris_table(1000), source)
    done = on_spark(cluster, iris_bundle, source, tmp_path / "out", PYSPARK_PYTHON=python)
    assert done.returncode == 1, done.stderr[-3000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error, done.stderr[-3000:]
    assert f"Spark executor on host {socket.gethostname()} " in error[0]
    assert f"numpy {np.__version__} recorded, {other} running" in error[0]
    assert not list((tmp_path / "out").glob("**/part-*"))


@pytest.fixture
def spark(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    for name, value in cluster.env.items():
        monkeypatch.setenv(name, value)
    session = (
        SparkSession.builder.master(cluster.url)
        .appName("dockyard tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "7")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()


def test_score_appends_typed_columns_and_names_a_bad_row(
    spark: Any, iris_bundle: Path, tmp_path: Path
) -> None:
    from pyspark.errors import PythonException
    from pyspark.sql.types import DoubleType, LongType, StringType

    from dockyard.spark import score

    table = iris_table(40)
    pq.write_table(table, tmp_path / "good.parquet")
    # Spark ships the bundle: the executors never read the driver's directory.
    copy = Path(shutil.copytree(iris_bundle, tmp_path / "bundle"))
    scored = score(spark.read.parquet(str(tmp_path / "good.parquet")), copy, batch_rows=5)
    shutil.rmtree(copy)
    types = {f.name: f.dataType for f in scored.schema.fields}
    assert list(types) == [*table.column_names, "predicted_species"] + [
        f"probability_{c}" for c in ("setosa", "versicolor", "virginica")
    ]
    assert types["id"] == LongType()
    assert types["predicted_species"] == StringType()
    assert types["probability_setosa"] == DoubleType()
    rows = sorted(scored.collect(), key=lambda r: r["id"])
    local = tmp_path / "local.parquet"
    assert (
        main(["predict", str(iris_bundle), str(tmp_path / "good.parquet"), "-o", str(local)]) == 0
    )
    assert [r["predicted_species"] for r in rows] == pq.read_table(local)[
        "predicted_species"
    ].to_pylist()

    X = iris_rows(30)
    X[17, 1] = np.nan
    bad = pa.table({n: X[:, i] for i, n in enumerate(FEATURES)})
    pq.write_table(bad, tmp_path / "bad.parquet")
    frame = spark.read.parquet(str(tmp_path / "bad.parquet")).coalesce(1)
    with pytest.raises(PythonException, match=r"row 17: sepal_width: must be a finite number"):
        score(frame, iris_bundle, batch_rows=5).collect()

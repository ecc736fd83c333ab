"""``dockyard predict BUNDLE INPUT -o OUTPUT --spark MASTER_URL``: Parquet paths the
cluster reads, scored on its executors (:func:`dockyard.spark.score`)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import urlparse

from rich.console import Console

from dockyard.errors import DockyardError, UsageError

# How an error raised on an executor shows in the Python traceback Spark hands back.
_RAISED = re.compile(r"^(dockyard(?:\.\w+)+): (.+)$", re.MULTILINE)
_LAST_ERROR = re.compile(r"^(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


class SparkJobFailed(DockyardError):
    """The Spark job failed; the message is the executor's, where it said one."""

    exit_code = 1
    code = "spark_job_failed"


def predict_on_spark(
    bundle: Path,
    source: str,
    output: str,
    *,
    master: str,
    batch_rows: int,
    trust: list[str],
    console: Console,
) -> int:
    """Score the Parquet files at ``source`` on the Spark cluster ``master`` into ``output``,
    showing progress on ``console``; return the number of rows scored."""
    if importlib.util.find_spec("pyspark") is None:
        raise UsageError(
            "Scoring on Spark needs PySpark, which is not installed.",
            hint="Install it with: pip install 'dockyard[spark]'.",
        )
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import AnalysisException, PythonException
    from pyspark.sql import SparkSession

    from dockyard.spark.scoring import score

    source, output = _uri(source), _uri(output)
    if urlparse(output).scheme == "file" and Path(urlparse(output).path).exists():
        raise UsageError(f"{output} already exists; Spark writes a new directory of Parquet files.")
    with console.status(f"Starting Spark on {master}…"):
        spark = (
            SparkSession.builder.master(master)
            .appName(f"dockyard predict {bundle.name}")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
            # Spark counts 4 MiB per file opened when it splits the input, so a file of
            # a few MiB is one task on one executor however many the cluster has. Counted
            # as nothing, every input is split across the cluster's cores (by row group).
            .config("spark.sql.files.openCostInBytes", "0")
            .getOrCreate()
        )
    try:
        # Failures come back as one line (below), not as Spark's logged stack traces.
        spark.sparkContext.setLogLevel("FATAL")
        rows = spark.sparkContext.accumulator(0)
        with console.status("Scoring on Spark…"):
            scored = score(
                spark.read.parquet(source),
                bundle,
                batch_rows=batch_rows,
                trusted_types=trust,
                rows=rows,
            )
            scored.write.mode("errorifexists").parquet(output)
    except PythonException as exc:
        raise SparkJobFailed(executor_message(str(exc))) from None
    except AnalysisException as exc:
        raise UsageError(f"Spark cannot read or write these paths: {exc}") from None
    except Py4JJavaError as exc:
        cause = str(exc.java_exception).strip().splitlines()[0]
        raise SparkJobFailed(f"The Spark job failed: {cause}") from None
    finally:
        spark.stop()
    return int(rows.value)


def executor_message(trace: str) -> str:
    """The error an executor raised, from the traceback Spark hands back."""
    ours = _RAISED.findall(trace)
    if ours:
        return str(ours[-1][1]).strip()
    other = _LAST_ERROR.findall(trace)
    if other:
        kind, text = (str(part) for part in other[-1])
        hint = ""
        if kind == "ModuleNotFoundError" and "dockyard" in text:
            hint = (
                " Install dockyard[spark] on every executor and point PYSPARK_PYTHON at "
                "that Python."
            )
        return f"A Spark executor failed: {kind}: {text.strip()}.{hint}"
    return f"The Spark job failed: {trace.strip().splitlines()[-1] if trace.strip() else trace}"


def _uri(path: str) -> str:
    """``path`` as the cluster should read it: a URI as given, a local path absolute."""
    if urlparse(path).scheme and len(urlparse(path).scheme) > 1:
        return path
    return Path(path).resolve().as_uri()

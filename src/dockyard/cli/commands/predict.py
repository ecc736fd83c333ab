"""``dockyard predict``: score a CSV file offline, streamed in chunks."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import typer

from dockyard import files
from dockyard.cli.refusals import in_flags
from dockyard.defaults import CSV_CHUNK_ROWS, PARQUET_BATCH_ROWS, scoring_threads
from dockyard.errors import UsageError

if TYPE_CHECKING:
    from dockyard.predictor import Predictor
    from dockyard.runtime.loading import RuntimeChoice


class _Counting(io.RawIOBase):
    """A read-only byte stream that reports how far it has read."""

    def __init__(self, raw: IO[bytes], advance: Callable[[int], object]) -> None:
        self._raw = raw
        self._advance = advance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self._advance(len(data))
        return len(data)


def predict(
    bundle: Path = typer.Argument(..., help="Bundle directory."),
    input_csv: Path = typer.Argument(..., help="CSV with a header row; '-' reads stdin."),
    output: Path = typer.Option(
        Path("-"), "--output", "-o", help="Scored CSV to write; '-' is stdout."
    ),
    chunk_rows: int | None = typer.Option(
        None,
        min=1,
        help=f"Rows scored at a time (bounds memory); default {CSV_CHUNK_ROWS:,} for CSV, "
        f"{PARQUET_BATCH_ROWS:,} for Parquet and Spark.",
    ),
    allow_version_mismatch: bool = typer.Option(
        False,
        "--allow-version-mismatch",
        help="Score with a bundle trained with other scikit-learn/numpy versions.",
    ),
    trust: list[str] = typer.Option([], "--trust", help="Extra trusted type (repeatable)."),
    runtime: str = typer.Option("auto", help="auto, onnx or sklearn."),
    processes: int = typer.Option(
        0, min=0, help="Processes scoring in parallel; 0: one per core, up to 4."
    ),
    escape_formulas: bool = typer.Option(
        True,
        "--escape-formulas/--no-escape-formulas",
        help="Write cells a spreadsheet would run as formulas (=, +, -, @, tab) with a ' in "
        "front; --no-escape-formulas keeps every cell as it came.",
    ),
    format_: str = typer.Option(
        "auto", "--format", help="csv or parquet; auto: by the files' extensions."
    ),
    spark: str | None = typer.Option(
        None, "--spark", metavar="MASTER_URL", help="Score Parquet paths on this Spark cluster."
    ),
    runtime_column: bool = typer.Option(
        False, "--runtime-column", help="Add a 'runtime' column: onnx or sklearn, what scored."
    ),
) -> None:
    """Score a CSV or Parquet file: every row comes out with prediction columns appended."""
    # Imported where needed: a Parquet run does not load the CSV modules, nor rich's
    # progress bar.
    from dockyard.batch.formats import file_format
    from dockyard.predictor import Predictor

    def load() -> Predictor:
        with in_flags(allow_version_mismatch=True):
            return Predictor.from_path(
                bundle,
                allow_version_mismatch=allow_version_mismatch,
                trusted_types=trust,
                runtime=_runtime(runtime),
            )

    if spark is not None or file_format(format_, input_csv, output) == "parquet":
        if spark is not None and allow_version_mismatch:
            raise UsageError(
                "--allow-version-mismatch does not apply to --spark: every executor must match the bundle."
            )
        batch_rows = chunk_rows or PARQUET_BATCH_ROWS
        _parquet(bundle, input_csv, output, load, spark=spark, chunk_rows=batch_rows, trust=trust)
        return
    chunk_rows = chunk_rows or CSV_CHUNK_ROWS
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from dockyard.batch.csv import score_csv
    from dockyard.batch.runtime_column import RuntimeColumn
    from dockyard.cli.console import err

    with err.status("Loading bundle…"):
        predictor = load()
    source, total = _open_input(input_csv)
    to_stdout = str(output) == "-"
    progress = Progress(
        TextColumn("[bold]scoring[/]"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
        console=err,
        transient=to_stdout,
        disable=not err.is_terminal and total is None,
        # Off a terminal the bar is drawn once, at the end: no thread redrawing it (nor
        # one running when the scoring processes fork).
        auto_refresh=err.is_terminal,
    )
    try:
        with progress:
            task = progress.add_task("score", total=total, rows=0)
            counted = io.BufferedReader(
                _Counting(source, lambda n: progress.advance(task, n)), 1 << 20
            )
            rows_done = [0]

            def on_rows(rows: int) -> None:
                rows_done[0] += rows
                progress.update(task, rows=rows_done[0])

            def score(sink: IO[str]) -> int:
                if runtime_column:
                    sink = RuntimeColumn(sink, predictor.runtime).as_sink()
                return score_csv(
                    predictor,
                    counted,
                    sink,
                    chunk_rows=chunk_rows,
                    on_rows=on_rows,
                    processes=processes or scoring_threads(),
                    escape_formulas=escape_formulas,
                )

            if to_stdout:
                rows = score(sys.stdout)
            elif _written_in_place(output):
                with _open_output(output) as sink:
                    rows = score(sink)
            else:
                with contextlib.ExitStack() as stack:
                    rows = score(_new_output(output, stack))
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if not to_stdout:
        err.print(f"Scored {rows:,} rows with {predictor.name} {predictor.version} → {output}")


def _open_input(path: Path) -> tuple[IO[bytes], int | None]:
    """The CSV to read, and its size when it has one: any readable path (a file, a pipe,
    /dev/stdin, a named pipe, <(process substitution)); '-' is stdin."""
    if str(path) == "-":
        return sys.stdin.buffer, None
    try:
        source = path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"Input file {path} does not exist.") from None
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.") from None
    info = os.fstat(source.fileno())
    return source, info.st_size if stat.S_ISREG(info.st_mode) else None


def _written_in_place(output: Path) -> bool:
    """Whether ``output`` is written as it is scored rather than replaced once complete:
    anything but a regular file (a pipe, a terminal, /dev/stdout), or a symlink, which is
    written through rather than replaced by a file."""
    try:
        return not stat.S_ISREG(output.lstat().st_mode)
    except FileNotFoundError:
        return False


def _open_output(output: Path) -> IO[str]:
    try:
        return output.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror}.") from None


def _new_output(output: Path, stack: contextlib.ExitStack) -> IO[str]:
    """A file beside ``output`` to score into, moved onto it when ``stack`` closes without an
    error: a failed run leaves no half-written output."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return stack.enter_context(files.replacing_text(output, newline=""))
    except OSError as exc:
        raise UsageError(f"Cannot write {output}: {exc.strerror}.") from None


def _parquet(
    bundle: Path,
    source: Path,
    output: Path,
    load: Callable[[], Predictor],
    *,
    spark: str | None,
    chunk_rows: int,
    trust: list[str],
) -> None:
    """Parquet in and out: on this machine, or on the Spark cluster ``spark``."""
    if spark is not None:
        from dockyard.cli.console import err
        from dockyard.spark.command import predict_on_spark

        rows = predict_on_spark(
            bundle,
            str(source),
            str(output),
            master=spark,
            batch_rows=chunk_rows,
            trust=trust,
            console=err,
        )
        err.print(f"Scored {rows:,} rows on {spark} → {output}")
        return
    from dockyard.batch.formats import require_pyarrow

    require_pyarrow()
    from dockyard.batch.parquet import score_parquet

    # rich (a spinner while the bundle loads) only on a terminal: elsewhere, its import
    # would be a tenth of a run's start-up for one line of text.
    with _loading_status():
        predictor = load()
    rows = score_parquet(predictor, source, output, batch_rows=chunk_rows)
    done = f"Scored {rows:,} rows with {predictor.name} {predictor.version} → {output}"
    print(done, file=sys.stderr)


def _loading_status() -> contextlib.AbstractContextManager[object]:
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from dockyard.cli.console import err

    return err.status("Loading bundle…")


def _runtime(value: str) -> RuntimeChoice:
    from dockyard.runtime.loading import CHOICES

    if value not in CHOICES:
        raise UsageError(f"--runtime {value!r}: choose auto, onnx or sklearn.")
    return cast("RuntimeChoice", value)


def register(app: typer.Typer) -> None:
    app.command()(predict)

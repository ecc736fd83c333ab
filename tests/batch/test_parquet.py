"""Parquet scoring: the same predictions, column names and refusals as CSV scoring, typed
columns, extra columns untouched, bounded memory; and the ``dockyard predict`` dispatch."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dockyard
from dockyard.batch.csv import score_csv
from dockyard.batch.parquet import score_parquet
from dockyard.cli.main import main
from dockyard.errors import BadRequest, InvalidInput, UsageError
from dockyard.predictor import Predictor

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_rows(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low, high = np.array([4.3, 2.0, 1.0, 0.1]), np.array([7.9, 4.4, 6.9, 2.5])
    return np.round(low + (high - low) * rng.random((count, 4)), 1)


def iris_table(count: int, seed: int = 0) -> pa.Table:
    X = iris_rows(count, seed)
    columns = {name: X[:, i] for i, name in enumerate(FEATURES)}
    return pa.table(
        {
            "id": pa.array(np.arange(count), pa.int64()),
            **columns,
            "note": pa.array([f"r{i}" if i % 3 else None for i in range(count)], pa.string()),
        }
    )


def csv_scored(predictor: Predictor, table: pa.Table) -> list[dict[str, str]]:
    source = io.StringIO()
    writer = csv.writer(source, lineterminator="\n")
    writer.writerow(FEATURES)
    writer.writerows(zip(*(table[n].to_pylist() for n in FEATURES), strict=True))
    out = io.StringIO()
    score_csv(predictor, io.BytesIO(source.getvalue().encode()), out, chunk_rows=7)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def parquet_scored(predictor: Predictor, table: pa.Table, tmp_path: Path, **kw: int) -> pa.Table:
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(table, source, row_group_size=kw.pop("row_group_size", 1000))
    assert score_parquet(predictor, source, target, **kw) == table.num_rows
    return pq.read_table(target)


def test_same_predictions_and_names_as_csv_with_extra_columns_kept(
    iris: Predictor, tmp_path: Path
) -> None:
    table = iris_table(500)
    scored = parquet_scored(iris, table, tmp_path, batch_rows=64, row_group_size=100)
    assert scored.column_names == [*table.column_names, *iris.output_columns]
    assert scored.select(table.column_names).equals(table)  # values and types untouched
    assert scored.schema.field("predicted_species").type == pa.string()
    for name in iris.output_columns[1:]:
        assert scored.schema.field(name).type == pa.float64()
    expected = csv_scored(iris, table)
    assert scored["predicted_species"].to_pylist() == [r["predicted_species"] for r in expected]
    for name in iris.output_columns[1:]:
        assert scored[name].to_pylist() == [float(r[name]) for r in expected]


def test_integer_labels_and_regression_values_are_typed(
    diabetes: Predictor, tmp_path: Path
) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = FEATURES
    bundle = tmp_path / "numbered"
    dockyard.save_bundle(LogisticRegression(max_iter=300).fit(X, y), X, y, name="n", path=bundle)
    numbered = Predictor.from_path(bundle)
    scored = parquet_scored(numbered, pa.Table.from_pandas(X), tmp_path)
    assert scored.schema.field(numbered.output_columns[0]).type == pa.int64()
    assert set(scored[numbered.output_columns[0]].to_pylist()) <= {0, 1, 2}

    names = list(diabetes.feature_names)
    values = np.linspace(-0.1, 0.1, 20 * len(names)).reshape(20, len(names))
    regressed = parquet_scored(
        diabetes, pa.table({n: values[:, i] for i, n in enumerate(names)}), tmp_path
    )
    assert regressed.column_names[-1] == diabetes.output_columns[0]
    assert regressed.schema.field(diabetes.output_columns[0]).type == pa.float64()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        (pa.float64(), float("nan")),
        (pa.float64(), 1e300),
        (pa.string(), "abc"),
        (pa.string(), ""),
    ],
)
def test_bad_value_gives_the_csv_reason_naming_the_row(
    iris: Predictor, tmp_path: Path, column: pa.DataType, value: object
) -> None:
    X = iris_rows(30)
    cells: list[object] = [float(v) if column == pa.float64() else str(v) for v in X[:, 1]]
    cells[17] = value
    table = pa.table(
        {
            "sepal_length": X[:, 0],
            "sepal_width": pa.array(cells, column),
            "petal_length": X[:, 2],
            "petal_width": X[:, 3],
        }
    )
    with pytest.raises(InvalidInput) as parquet_error:
        parquet_scored(iris, table, tmp_path, batch_rows=8)
    (error,) = parquet_error.value.errors
    assert (error.field, error.row) == ("sepal_width", 17)
    text = f"sepal_length,sepal_width,petal_length,petal_width\n5.1,{value},1.4,0.2\n"
    with pytest.raises(InvalidInput) as csv_error:
        score_csv(iris, io.BytesIO(text.encode()), io.StringIO())
    assert error.reason == csv_error.value.errors[0].reason
    assert "row 17: sepal_width" in str(parquet_error.value)
    assert not (tmp_path / "out.parquet").exists()


def test_numbers_as_text_and_integers_are_read_as_in_csv(iris: Predictor, tmp_path: Path) -> None:
    X = iris_rows(40)
    typed = pa.table({n: X[:, i] for i, n in enumerate(FEATURES)})
    mixed = pa.table(
        {
            "sepal_length": pa.array([str(v) for v in X[:, 0]]),
            "sepal_width": X[:, 1].astype(np.float32),
            "petal_length": X[:, 2],
            "petal_width": (X[:, 3] * 0).astype(np.int32),
        }
    )
    typed = typed.set_column(3, "petal_width", pa.array(np.zeros(40)))
    a = parquet_scored(iris, typed, tmp_path)
    b = parquet_scored(iris, mixed, tmp_path)
    assert a["predicted_species"].equals(b["predicted_species"])


def test_missing_feature_and_clashing_column_are_refused(iris: Predictor, tmp_path: Path) -> None:
    table = iris_table(5)
    with pytest.raises(InvalidInput, match=r"lacks feature column.*petal_width"):
        parquet_scored(iris, table.drop_columns(["petal_width"]), tmp_path)
    clash = table.append_column("predicted_species", pa.array(["x"] * 5))
    with pytest.raises(BadRequest, match=r"already has column.*predicted_species"):
        parquet_scored(iris, clash, tmp_path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BadRequest, match="not a readable Parquet file"):
        score_parquet(iris, tmp_path / "junk.parquet", tmp_path / "o.parquet")


def test_memory_is_bounded_by_the_batch_not_the_file(iris: Predictor, tmp_path: Path) -> None:
    from dockyard.batch.parquet import iter_scored

    peaks = []
    for count in (50_000, 500_000):
        source = tmp_path / f"in-{count}.parquet"
        pq.write_table(iris_table(count), source, row_group_size=10_000)
        base = pa.total_allocated_bytes()
        peak = 0
        _, scored = iter_scored(iris, source, batch_rows=5_000)
        for batch in scored:
            assert batch.num_rows <= 5_000
            peak = max(peak, pa.total_allocated_bytes() - base)
        peaks.append(peak)
    # Ten times the rows, about the same memory (a whole file of 500,000 rows takes ~30 MB).
    assert peaks[1] < 2 * peaks[0] + (1 << 20)


def test_predict_command_dispatches_by_extension_and_flag(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    pq.write_table(iris_table(1000), source)
    target = tmp_path / "scored.parquet"
    assert main(["predict", str(iris_bundle), str(source), "-o", str(target)]) == 0
    assert "Scored 1,000 rows" in capsys.readouterr().err
    assert pq.read_table(target).num_rows == 1000
    plain = tmp_path / "data"
    plain.write_bytes(source.read_bytes())
    named = tmp_path / "scored-by-flag"
    argv = ["predict", str(iris_bundle), str(plain), "-o", str(named), "--format", "parquet"]
    assert main(argv) == 0
    assert pq.read_table(named).equals(pq.read_table(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data",
        "in.parquet",
        "scored-by-flag",
        "scored.parquet",
    ]  # no temporary files left


@pytest.mark.parametrize(
    ("source", "output", "message"),
    [
        ("in.parquet", "out.csv", "different formats"),
        ("in.parquet", "-", "standard input or output"),
        ("in.parquet", "out.parquet", "does not exist"),
    ],
)
def test_predict_command_refusals(
    iris_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    source: str,
    output: str,
    message: str,
) -> None:
    target = output if output == "-" else str(tmp_path / output)
    code = main(["predict", str(iris_bundle), str(tmp_path / source), "-o", target])
    assert code == UsageError.exit_code
    assert message in capsys.readouterr().err


def test_csv_scoring_works_without_pyarrow(iris_bundle: Path, tmp_path: Path) -> None:
    """pyarrow is the command line's, not a serving image's: CSV runs never need it, and
    a Parquet run without it says how to install it."""
    source = tmp_path / "in.csv"
    source.write_text(",".join(FEATURES) + "\n5.1,3.5,1.4,0.2\n")
    pq.write_table(iris_table(3), tmp_path / "in.parquet")
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None  # as if not installed: importing it fails\n"
        "from dockyard.cli.main import main\n"
        f"code = main(['predict', {str(iris_bundle)!r}, {str(source)!r}, '-o', "
        f"{str(tmp_path / 'o.csv')!r}])\n"
        "assert code == 0, code\n"
        f"code = main(['predict', {str(iris_bundle)!r}, {str(tmp_path / 'in.parquet')!r}, "
        f"'-o', {str(tmp_path / 'o.parquet')!r}])\n"
        "assert code == 2, code\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o.csv").read_text().count("\n") == 2
    assert "pip install 'dockyard[parquet]'" in done.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_text_columns_are_dictionary_encoded_and_floats_not(
    iris: Predictor, tmp_path: Path
) -> None:
    """Dictionary encoding pays for labels; for floats it is built only to be dropped."""
    parquet_scored(iris, iris_table(2000), tmp_path)
    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    assert "RLE_DICTIONARY" in encodings["predicted_species"]
    assert "RLE_DICTIONARY" in encodings["note"]
    assert "RLE_DICTIONARY" not in encodings["probability_setosa"]
    assert "RLE_DICTIONARY" not in encodings["sepal_length"]


def test_parquet_scoring_does_not_import_pandas(iris_bundle: Path, tmp_path: Path) -> None:
    """pa.array() and Array.to_numpy() import pandas, a large share of a run's start, and
    Array.take() pyarrow.compute: numeric columns and predictions go through buffers
    instead. Nor does a Parquet run load the CSV modules, or rich off a terminal."""
    pq.write_table(iris_table(5000).drop_columns(["note"]), tmp_path / "in.parquet")
    code = (
        "import sys\n"
        "from dockyard.cli.main import main\n"
        f"code = main(['predict', {str(iris_bundle)!r}, {str(tmp_path / 'in.parquet')!r}, "
        f"'-o', {str(tmp_path / 'o.parquet')!r}])\n"
        "assert code == 0, code\n"
        "assert 'pandas' not in sys.modules, 'pandas was imported'\n"
        "unwanted = {'pyarrow.compute', 'dockyard.batch.csv', 'rich'} & set(sys.modules)\n"
        "assert not unwanted, unwanted\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    scored = pq.read_table(tmp_path / "o.parquet")
    assert scored.num_rows == 5000
    labels = scored["predicted_species"]
    assert labels.type == pa.string()
    assert labels.null_count == 0
    # The labels built from buffers are the classes, as the probabilities rank them.
    probabilities = np.column_stack(
        [scored[f"probability_{c}"].to_numpy() for c in ("setosa", "versicolor", "virginica")]
    )
    best = np.array(["setosa", "versicolor", "virginica"])[probabilities.argmax(axis=1)]
    assert labels.to_pylist() == best.tolist()


def test_threads_score_in_file_order_and_report_the_first_bad_row(
    iris: Predictor, tmp_path: Path
) -> None:
    """Batches scored on several threads come out in file order, the same as on one; of
    two bad rows in different batches, the one earlier in the file is reported."""
    table = iris_table(3000)
    one = parquet_scored(iris, table, tmp_path, batch_rows=100, threads=1)
    several = parquet_scored(iris, table, tmp_path, batch_rows=100, threads=3)
    assert several.equals(one)
    X = iris_rows(3000)
    X[420, 0] = np.nan  # batches 2 and 4, in flight together: 4 may be finished first
    X[250, 2] = np.inf
    bad = pa.table({n: X[:, i] for i, n in enumerate(FEATURES)})
    with pytest.raises(InvalidInput) as refused:
        parquet_scored(iris, bad, tmp_path, batch_rows=100, threads=3)
    (error,) = refused.value.errors
    assert (error.field, error.row) == ("petal_length", 250)


def test_scored_file_mode_follows_the_umask(iris: Predictor, tmp_path: Path) -> None:
    """As a CSV output is: 0644 under the usual umask, not a temporary file's 0600."""
    import os

    old = os.umask(0o022)
    try:
        parquet_scored(iris, iris_table(10), tmp_path)
    finally:
        os.umask(old)
    assert (tmp_path / "out.parquet").stat().st_mode & 0o777 == 0o644


def test_predict_scores_parquet_in_larger_batches_than_csv(
    iris_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --chunk-rows, Parquet is scored PARQUET_BATCH_ROWS at a time (no text to
    parse: bigger batches cost less per row); --chunk-rows still bounds it."""
    from dockyard.batch import parquet
    from dockyard.defaults import PARQUET_BATCH_ROWS

    seen: list[int] = []
    original = parquet.score_parquet

    def spy(*args: object, batch_rows: int, **kw: object) -> int:
        seen.append(batch_rows)
        return original(*args, batch_rows=batch_rows, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(parquet, "score_parquet", spy)
    source = tmp_path / "in.parquet"
    pq.write_table(iris_table(50), source)
    argv = ["predict", str(iris_bundle), str(source), "-o", str(tmp_path / "o.parquet")]
    assert main(argv) == 0
    assert main([*argv, "--chunk-rows", "7"]) == 0
    assert seen == [PARQUET_BATCH_ROWS, 7]

"""The executor's side, in this process: a shipped bundle that is not the driver's, or not
intact, is refused naming the host; rows are counted across a partition's batches."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dockyard.bundle.store import bundle_digest
from dockyard.errors import InvalidInput
from dockyard.spark import executor
from tests.batch.test_parquet import iris_rows


@pytest.fixture
def shipped(iris_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundle where SparkFiles would unpack it on an executor."""
    copy = Path(shutil.copytree(iris_bundle, tmp_path / "dockyard-bundle-x.tar"))
    monkeypatch.setattr("pyspark.SparkFiles.get", lambda name: str(tmp_path / name))
    monkeypatch.setattr(executor, "_PREDICTORS", {})
    return copy


def test_a_tampered_file_is_refused_naming_the_host(iris_bundle: Path, shipped: Path) -> None:
    model = shipped / json.loads((shipped / "bundle.json").read_text())["model"]["path"]
    data = model.read_bytes()
    model.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(executor.ExecutorRefused) as refused:
        executor.load(shipped.name, bundle_digest(iris_bundle), "auto", ())
    assert f"Spark executor on host {socket.gethostname()} " in str(refused.value)
    assert "failed its integrity check" in str(refused.value)


def test_a_bundle_other_than_the_drivers_is_refused(iris_bundle: Path, shipped: Path) -> None:
    with (shipped / "bundle.json").open("a") as fh:
        fh.write("\n")
    with pytest.raises(executor.ExecutorRefused, match=r"its bundle\.json has sha256"):
        executor.load(shipped.name, bundle_digest(iris_bundle), "auto", ())


def test_rows_are_counted_across_a_partitions_batches(iris_bundle: Path, shipped: Path) -> None:
    scorer = executor.BatchScorer(shipped.name, bundle_digest(iris_bundle), 4, "auto", ())
    X = iris_rows(30)
    X[22, 2] = np.inf
    batches = [tuple(pa.array(X[a : a + 10, i]) for i in range(4)) for a in (0, 10, 20)]
    out = scorer(iter(batches[:2]))
    structs = list(out)
    assert [len(s) for s in structs] == [10, 10]  # one output per input batch, cut in 4s
    assert structs[0].type.names[0] == "predicted_species"
    with pytest.raises(InvalidInput, match=r"row 22: petal_length: must be a finite number"):
        list(scorer(iter(batches)))


def test_an_executor_whose_answers_differ_is_refused(
    iris_bundle: Path, shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The executor's arithmetic, perturbed: the scikit-learn model's intercept moved by a
    # hair, as another BLAS or compiler could. Its answers to the bundle's probe rows no
    # longer match the recorded ones, and the executor refuses before scoring a row.
    from dockyard.predictor import Predictor

    loaded = Predictor.from_path

    def perturbed(*args: object, **kwargs: object) -> Predictor:
        predictor = loaded(*args, **kwargs)  # type: ignore[arg-type]
        classifier = (
            predictor.model.steps[-1][1] if hasattr(predictor.model, "steps") else predictor.model
        )
        classifier.intercept_ = classifier.intercept_ + 1e-6
        return predictor

    monkeypatch.setattr(Predictor, "from_path", perturbed)
    with pytest.raises(executor.ExecutorRefused) as refused:
        executor.load(shipped.name, bundle_digest(iris_bundle), "sklearn", ())
    assert f"Spark executor on host {socket.gethostname()} " in str(refused.value)
    assert "probe row" in str(refused.value) or "golden" in str(refused.value).lower()

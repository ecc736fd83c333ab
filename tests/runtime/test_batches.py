"""One answer per input: a row's outputs do not depend on what it is batched with, on
either runtime and through every entry point, bit for bit."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

import dockyard
from dockyard.bundle import read_metadata
from dockyard.predictor import Predictor
from dockyard.runtime import export
from dockyard.runtime.export import ONNX_FILE
from dockyard.runtime.onnx import OnnxModel
from dockyard.server.app import create_app
from dockyard.server.batching import Batcher
from dockyard.settings import Settings
from tests.conftest import churn_frame

SIZES = (1, 2, 3, 5, 7, 8, 16, 33)
RUNTIMES = ("onnx", "sklearn")


def _perturbed(data: np.ndarray, rows: int = 96) -> np.ndarray:
    """Rows like the training data's, but not on it: every digit of the inputs matters."""
    rng = np.random.default_rng(0)
    picked = data[rng.integers(0, len(data), rows)]
    perturbed: np.ndarray = picked * (1 + rng.normal(0, 0.02, picked.shape))
    return perturbed


def _numeric(load: Callable[..., Any]) -> Callable[[Predictor], list[dict[str, Any]]]:
    def records(predictor: Predictor) -> list[dict[str, Any]]:
        names = predictor.feature_names
        return [dict(zip(names, map(float, row), strict=True)) for row in _perturbed(load().data)]

    return records


def _churn(predictor: Predictor) -> list[dict[str, Any]]:
    X, _ = churn_frame(96, seed=7)
    records: list[dict[str, Any]] = X.to_dict("records")
    return records


def _sklearn(name: str) -> Callable[..., Any]:
    from sklearn import datasets

    loader: Callable[..., Any] = getattr(datasets, name)
    return loader


ROWS: dict[str, Callable[[Predictor], list[dict[str, Any]]]] = {
    "iris": _numeric(_sklearn("load_iris")),
    "wine": _numeric(_sklearn("load_wine")),
    "churn": _churn,
    "diabetes": _numeric(_sklearn("load_diabetes")),
    "virginica": _numeric(_sklearn("load_iris")),
    "species-code": _numeric(_sklearn("load_iris")),
}


@pytest.fixture(scope="module")
def paths(bundles: Path, boolean_bundle: Path, integer_bundle: Path) -> dict[str, Path]:
    named = {name: bundles / name for name in ("iris", "wine", "churn", "diabetes")}
    return {**named, "virginica": boolean_bundle, "species-code": integer_bundle}


def _outputs(predictor: Predictor, records: list[dict[str, Any]]) -> np.ndarray:
    prediction = predictor.predict_columns(predictor.validator.records(records))
    if prediction.probabilities is not None:
        return prediction.probabilities
    return np.asarray(prediction.outputs, dtype=np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit, not merely equal."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def test_the_export_says_how_it_computes(paths: dict[str, Path]) -> None:
    runtimes = {name: read_metadata(path).runtime for name, path in paths.items()}
    for name in ("iris", "churn", "virginica", "species-code"):
        assert runtimes[name].precision == "float64", name
        assert runtimes[name].tolerance == 1e-12
        assert runtimes[name].precision_reason == ""
    # Tree ensembles: skl2onnx's float64 trees disagree or do not load; float32, with why.
    assert runtimes["wine"].precision == "float32"
    assert "tolerance is 1e-12" in runtimes["wine"].precision_reason
    assert runtimes["diabetes"].precision == "float32"
    assert "TreeEnsembleRegressor" in runtimes["diabetes"].precision_reason
    assert "/" not in runtimes["diabetes"].precision_reason  # no temporary path
    # Softmax's float64 Exp needs whole SIMD registers; the others need no padding.
    assert runtimes["iris"].pad_rows == 8
    assert runtimes["species-code"].pad_rows == 8
    assert runtimes["wine"].pad_rows == runtimes["diabetes"].pad_rows == 1
    assert all(r.batch_difference == 0.0 for r in runtimes.values())


@pytest.mark.parametrize("name", ["iris", "churn", "virginica", "species-code"])
def test_float64_export_agrees_with_scikit_learn_to_1e_12(
    paths: dict[str, Path], name: str
) -> None:
    fast, exact = (Predictor.from_path(paths[name], runtime=r) for r in RUNTIMES)
    records = ROWS[name](fast)
    a, b = (
        fast.predict_columns(fast.validator.records(records)),
        exact.predict_columns(exact.validator.records(records)),
    )
    assert a.outputs == b.outputs
    assert a.probabilities is not None
    assert b.probabilities is not None
    assert np.max(np.abs(a.probabilities - b.probabilities)) <= 1e-12


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", list(ROWS))
def test_a_row_scores_the_same_in_any_batch(
    paths: dict[str, Path], name: str, runtime: str
) -> None:
    predictor = Predictor.from_path(paths[name], runtime=runtime)
    records = ROWS[name](predictor)
    whole = _outputs(predictor, records)
    order = np.random.default_rng(1).permutation(len(records))
    shuffled = _outputs(predictor, [records[i] for i in order])
    assert _same(shuffled[np.argsort(order)], whole), "different neighbours"
    for size in SIZES:
        for start in range(0, len(records), size):
            part = _outputs(predictor, records[start : start + size])
            assert _same(part, whole[start : start + size]), (size, start)


def test_rows_batched_with_other_requests_score_as_alone(paths: dict[str, Path]) -> None:
    predictor = Predictor.from_path(paths["iris"])
    columns = predictor.validator.records(ROWS["iris"](predictor)[:40])
    requests = [[c[i : i + n] for c in columns] for i, n in ((0, 1), (1, 3), (4, 1), (5, 7))]

    async def together() -> list[Any]:
        batcher = Batcher(predictor, max_rows=64)
        return await asyncio.gather(*(batcher.predict(r, len(r[0])) for r in requests))

    for request, shared in zip(requests, asyncio.run(together()), strict=True):
        alone = predictor.predict_columns(request)
        assert shared.outputs == alone.outputs
        assert _same(shared.probabilities, alone.probabilities)


def _http_answers(client: TestClient, predictor: Predictor, records: list[dict[str, Any]]) -> Any:
    """Each record's probabilities from every HTTP entry point, in every batching."""
    name, keys = predictor.name, predictor.class_keys
    base = f"/v1/models/{name}"

    def json_rows(body: bytes) -> list[list[float]]:
        return [[p["probabilities"][k] for k in keys] for p in orjson.loads(body)["predictions"]]

    def csv_rows(body: bytes) -> list[list[float]]:
        table = list(csv.reader(io.StringIO(body.decode())))[1:]
        return [[float(cell) for cell in row[-len(keys) :]] for row in table]

    def v2_rows(body: bytes) -> list[list[float]]:
        outputs = {o["name"]: o for o in orjson.loads(body)["outputs"]}
        data = outputs["predict_proba"]["data"]
        return [data[i : i + len(keys)] for i in range(0, len(data), len(keys))]

    def table(part: list[dict[str, Any]]) -> str:
        names = predictor.feature_names
        lines = [",".join(names)] + [",".join(repr(r[n]) for n in names) for r in part]
        return "\n".join(lines) + "\n"

    answers: dict[str, list[list[float]]] = {}
    for size in (1, 3, 8, len(records)):
        for kind in ("json", "csv", "v2"):
            rows: list[list[float]] = []
            for start in range(0, len(records), size):
                part = records[start : start + size]
                if kind == "json" and size == 1:
                    answer = client.post(f"{base}/predict", json=part[0])
                elif kind == "json":
                    answer = client.post(f"{base}/predict", json={"instances": part})
                elif kind == "csv":
                    answer = client.post(
                        f"{base}/predict/csv",
                        content=table(part),
                        headers={"content-type": "text/csv"},
                    )
                else:
                    tensors = [
                        {
                            "name": f,
                            "datatype": "FP64",
                            "shape": [len(part)],
                            "data": [r[f] for r in part],
                        }
                        for f in predictor.feature_names
                    ]
                    answer = client.post(f"/v2/models/{name}/infer", json={"inputs": tensors})
                assert answer.status_code == 200, answer.text
                rows += {"json": json_rows, "csv": csv_rows, "v2": v2_rows}[kind](answer.content)
            answers[f"{kind} in batches of {size}"] = rows
    return answers


@pytest.mark.parametrize("name", ["iris", "virginica", "species-code"])
def test_every_entry_point_gives_a_row_one_answer(paths: dict[str, Path], name: str) -> None:
    predictor = Predictor.from_path(paths[name])
    assert predictor.runtime == "onnx"
    records = ROWS[name](predictor)[:24]
    expected = _outputs(predictor, records)
    with TestClient(create_app(Settings(), predictors=[predictor])) as client:
        answers = _http_answers(client, predictor, records)
    for how, rows in answers.items():
        assert _same(np.array(rows), expected), how


def test_padding_changes_no_row_and_returns_only_the_real_rows(paths: dict[str, Path]) -> None:
    # Churn feeds one tensor per feature, text among them; Iris one float64 matrix.
    for name in ("churn", "iris"):
        predictor = Predictor.from_path(paths[name])
        columns = predictor.validator.records(ROWS[name](predictor)[:5])
        plain = OnnxModel(paths[name] / ONNX_FILE).run(columns)
        padded = OnnxModel(paths[name] / ONNX_FILE, pad_rows=8).run(columns)
        assert padded[0].tolist() == plain[0].tolist()
        assert padded[1] is not None
        assert plain[1] is not None
        assert padded[1].shape == (5, len(predictor.classes))
        np.testing.assert_allclose(padded[1], plain[1], rtol=0, atol=1e-15)


def test_a_batch_dependence_padding_cannot_remove_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PAD_ROWS", 1)  # no padding at all
    runtime = dockyard.train_example("iris", tmp_path / "iris").runtime
    assert runtime.precision == "float64"
    assert runtime.pad_rows == 1
    assert runtime.batch_difference is not None
    assert 0 < runtime.batch_difference <= 1e-15

"""A label is the same value everywhere: boolean, integer and string labels come back
with the training data's JSON type from both runtimes and every entry point."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor, label_text
from dockyard.server.app import create_app
from dockyard.settings import Settings

# name -> (the labels' Python type, probability keys, the V2 datatype)
CASES: dict[str, tuple[type, list[str], str]] = {
    "virginica": (bool, ["false", "true"], "BOOL"),
    "species-code": (int, ["1", "2", "3"], "INT64"),
    "iris": (str, ["setosa", "versicolor", "virginica"], "BYTES"),
}
RUNTIMES = ("onnx", "sklearn")


@pytest.fixture(scope="module")
def labelled(boolean_bundle: Path, integer_bundle: Path, iris_bundle: Path) -> dict[str, Path]:
    return {"virginica": boolean_bundle, "species-code": integer_bundle, "iris": iris_bundle}


def iris_rows() -> np.ndarray:
    from sklearn.datasets import load_iris

    rows: np.ndarray = load_iris().data
    return rows


def records(predictor: Predictor, rows: np.ndarray) -> list[dict[str, float]]:
    return [dict(zip(predictor.feature_names, map(float, row), strict=True)) for row in rows]


def rounded(value: Any) -> Any:
    """``value`` with every probability rounded: the runtimes agree to ~1e-16, not bit for
    bit, and everything else must be identical."""
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value


def test_label_text() -> None:
    assert [label_text(v) for v in (True, False, np.True_, 3, "setosa", 2.0)] == [
        "true",
        "false",
        "true",
        "3",
        "setosa",
        "2.0",
    ]


@pytest.mark.parametrize("name", CASES)
def test_both_runtimes_give_the_training_labels(labelled: dict[str, Path], name: str) -> None:
    kind, keys, _ = CASES[name]
    answers = []
    for runtime in RUNTIMES:
        predictor = Predictor.from_path(labelled[name], runtime=runtime)
        assert predictor.runtime == runtime
        assert predictor.output_columns[1:] == [f"probability_{k}" for k in keys]
        prediction = predictor.predict_columns(
            predictor.validator.records(records(predictor, iris_rows()))
        )
        assert {type(label) for label in prediction.outputs} == {kind}
        answer = predictor.to_json(prediction)
        assert all(list(row["probabilities"]) == keys for row in answer)
        # The predicted label is its probability's key.
        assert all(
            row["probabilities"][label_text(row["label"])] == max(row["probabilities"].values())
            for row in answer
        )
        answers.append(orjson.dumps(rounded(answer)))
    assert answers[0] == answers[1]


def _answers(path: Path, runtime: str, name: str) -> Iterator[tuple[str, bytes]]:
    """Every entry point's answer for the first rows of Iris, as bytes."""
    predictor = Predictor.from_path(path, runtime=runtime)
    app = create_app(Settings(runtime=runtime), predictors=[predictor])
    rows = iris_rows()[::37]  # one or two of each species
    batch = records(predictor, rows)
    with TestClient(app) as client:
        base = f"/v1/models/{name}"
        single = client.post(f"{base}/predict", json=batch[0])
        yield "json", single.content
        yield "batch", client.post(f"{base}/predict", json={"instances": batch}).content
        query = client.get(f"{base}/predict", params=batch[-1])
        yield "get", query.content
        table = ",".join(predictor.feature_names) + "\n"
        table += "".join(",".join(map(str, row)) + "\n" for row in rows)
        scored = client.post(
            f"{base}/predict/csv", content=table, headers={"content-type": "text/csv"}
        )
        yield "csv", scored.content
        tensors = [
            {"name": f, "datatype": "FP64", "shape": [len(rows)], "data": rows[:, i].tolist()}
            for i, f in enumerate(predictor.feature_names)
        ]
        yield "v2", client.post(f"/v2/models/{name}/infer", json={"inputs": tensors}).content
        yield "v2-metadata", client.get(f"/v2/models/{name}").content


@pytest.mark.parametrize("name", CASES)
def test_every_entry_point_answers_the_same_from_both_runtimes(
    labelled: dict[str, Path], name: str
) -> None:
    kind, keys, datatype = CASES[name]
    onnx, sklearn = (dict(_answers(labelled[name], r, name)) for r in RUNTIMES)
    for entry in onnx:
        if entry == "csv":
            table = [
                list(csv.reader(io.StringIO(a.decode()))) for a in (onnx[entry], sklearn[entry])
            ]
            for answer in table:
                assert answer[0][-len(keys) - 1 :] == [
                    f"predicted_{answer[0][-len(keys) - 1].removeprefix('predicted_')}",
                    *(f"probability_{k}" for k in keys),
                ]
                assert {row[-len(keys) - 1] for row in answer[1:]} <= set(keys)
            labels = [[row[-len(keys) - 1] for row in answer] for answer in table]
            assert labels[0] == labels[1]
            chances = [np.array([row[-len(keys) :] for row in t[1:]], dtype=float) for t in table]
            np.testing.assert_allclose(chances[0], chances[1], rtol=0, atol=1e-9)
        else:
            answers = [orjson.loads(a[entry]) for a in (onnx, sklearn)]
            if entry == "v2":
                # Each answer names the runtime that produced it; everything else is alike.
                assert [a.pop("parameters") for a in answers] == [{"runtime": r} for r in RUNTIMES]
            assert orjson.dumps(rounded(answers[0])) == orjson.dumps(rounded(answers[1])), entry
    for entry in ("json", "batch", "get"):
        for row in orjson.loads(onnx[entry])["predictions"]:
            assert type(row["label"]) is kind
            assert list(row["probabilities"]) == keys
    outputs = {o["name"]: o for o in orjson.loads(onnx["v2"])["outputs"]}
    assert outputs["predict"]["datatype"] == datatype
    assert {type(v) for v in outputs["predict"]["data"]} == {kind}
    metadata = orjson.loads(onnx["v2-metadata"])
    assert metadata["outputs"][0]["datatype"] == datatype
    assert metadata["parameters"]["classes"] == keys


def test_boolean_labels_are_written_as_json_writes_them(labelled: dict[str, Path]) -> None:
    answers = dict(_answers(labelled["virginica"], "onnx", "virginica"))
    assert b'"label":false,"probabilities":{"false":' in answers["json"]
    assert b'"label":true,"probabilities":{"false":' in answers["get"]
    lines = answers["csv"].decode().splitlines()
    assert lines[0].endswith(",predicted_is_virginica,probability_false,probability_true")
    assert [line.split(",")[4] for line in lines[1:]] == ["false", "false", "false", "true", "true"]
    assert b'"datatype":"BOOL","shape":[5],"data":[false,false,false,true,true]' in answers["v2"]

"""The data plane on its own, with no HTTP: validation dispatch, the thread policy,
counting, readiness and what observers hear."""

from __future__ import annotations

import asyncio
import io
import math
import time
from typing import Any

import pytest

from dockyard.errors import InvalidInput, ModelNotFound, PayloadTooLarge
from dockyard.predictor import Predictor
from dockyard.predictor.events import PredictionEvent
from dockyard.predictor.repository import ModelRepository
from dockyard.server.dataplane import INLINE_ROWS, Call, DataPlane
from dockyard.server.metrics import Metrics
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA

ROW = list(IRIS_SETOSA.values())


def _plane(*predictors: Predictor, **settings: Any) -> tuple[DataPlane, list[PredictionEvent]]:
    heard: list[PredictionEvent] = []
    plane = DataPlane(
        ModelRepository(predictors), Settings(**settings), Metrics(), observers=[heard.append]
    )
    return plane, heard


def _call(entry: str = "json", request_id: str = "r-1") -> Call:
    return Call(request_id, entry, time.time(), time.perf_counter())


def test_records_are_predicted_counted_and_observed(iris: Predictor) -> None:
    plane, heard = _plane(iris)
    prediction = asyncio.run(plane.predict_records(iris, [IRIS_SETOSA, IRIS_SETOSA], _call()))
    assert prediction.outputs == ["setosa", "setosa"]
    [event] = heard
    assert (event.request_id, event.entry, event.status, event.first_row) == ("r-1", "json", 200, 0)
    assert event.predictor is iris
    assert event.prediction is prediction
    assert event.columns is not None
    assert [list(c) for c in event.columns] == [[v, v] for v in ROW]
    assert event.latency >= 0
    assert 'dockyard_predictions_total{label="setosa",model="iris"} 2.0' in (
        plane.metrics.exposition().decode()
    )


def test_every_input_layout_gives_the_same_answer(iris: Predictor) -> None:
    plane, heard = _plane(iris)
    text = {k: str(v) for k, v in IRIS_SETOSA.items()}
    columns = {k: [v] for k, v in IRIS_SETOSA.items()}
    answers = [
        asyncio.run(plane.predict_records(iris, [IRIS_SETOSA], _call("json"))),
        asyncio.run(plane.predict_text(iris, text, _call("query"))),
        asyncio.run(plane.predict_columns(iris, columns, 1, _call("v2"))),
    ]
    assert answers[0].outputs == answers[1].outputs == answers[2].outputs
    assert [
        (a.probabilities.tolist() if a.probabilities is not None else None) for a in answers
    ] == [answers[0].probabilities.tolist()] * 3  # type: ignore[union-attr]
    assert [e.entry for e in heard] == ["json", "query", "v2"]


def test_a_refused_request_is_observed_with_its_status(iris: Predictor) -> None:
    plane, heard = _plane(iris)
    with pytest.raises(InvalidInput):
        asyncio.run(plane.predict_records(iris, [{"sepal_length": "x"}], _call()))
    [event] = heard
    assert (event.status, event.columns, event.prediction) == (422, None, None)


def test_non_finite_outputs_are_refused_and_observed(iris: Predictor) -> None:
    plane, heard = _plane(iris, batch_rows=1)
    huge = dict.fromkeys(IRIS_SETOSA, 1e15) | {"sepal_width": -1e15, "petal_width": -1e15}
    try:
        prediction = asyncio.run(plane.predict_records(iris, [huge], _call()))
    except InvalidInput:
        assert heard[-1].status == 422
        assert heard[-1].columns is not None  # refused after validation: inputs known
    else:  # this model's outputs stay finite: then it is an answer like any other
        assert all(math.isfinite(p) for p in prediction.probabilities.ravel())  # type: ignore[union-attr]
        assert heard[-1].status == 200


def test_one_row_limit_for_every_protocol(iris: Predictor) -> None:
    plane, _ = _plane(iris, max_batch_rows=3)
    with pytest.raises(PayloadTooLarge, match="4 records in one request; the limit is 3"):
        asyncio.run(plane.predict_records(iris, [IRIS_SETOSA] * 4, _call()))
    columns = {k: [v] * 4 for k, v in IRIS_SETOSA.items()}
    with pytest.raises(PayloadTooLarge):
        asyncio.run(plane.predict_columns(iris, columns, 4, _call("v2")))
    with pytest.raises(InvalidInput, match="no records to predict"):
        asyncio.run(plane.predict_records(iris, [], _call()))


def test_small_requests_are_batched_large_ones_go_to_a_thread(iris: Predictor) -> None:
    plane, _ = _plane(iris, batch_rows=64)
    batcher = plane.batchers["iris"]

    async def together() -> None:
        await asyncio.gather(
            *(
                plane.predict_records(iris, [IRIS_SETOSA], _call(request_id=str(i)))
                for i in range(5)
            )
        )

    asyncio.run(together())
    assert batcher.calls == 1  # five requests, one model call
    asyncio.run(plane.predict_records(iris, [IRIS_SETOSA] * (INLINE_ROWS + 1), _call()))
    assert batcher.calls == 1  # the large one did not go through the batcher


def test_csv_chunks_are_observed_with_their_first_row_and_inputs(iris: Predictor) -> None:
    plane, heard = _plane(iris, csv_chunk_rows=2)
    header = ",".join(IRIS_SETOSA)
    line = ",".join(str(v) for v in ROW)
    source = io.BytesIO(("\n".join([header, *[line] * 5]) + "\n").encode())
    answer = plane.score_csv(iris, source, False, _call("csv"))
    assert answer.blocks is not None
    out = b"".join(answer.blocks)
    assert out.count(b"setosa") >= 5
    assert plane.budget.used == answer.size == len(out)
    answer.release()
    assert plane.budget.used == 0
    assert [(e.entry, e.first_row, len(e.prediction or [])) for e in heard] == [
        ("csv", 0, 2),
        ("csv", 2, 2),
        ("csv", 4, 1),
    ]
    # Each chunk's validated inputs go with it, one sequence per feature.
    for event in heard:
        assert event.columns is not None
        assert [list(map(float, c)) for c in event.columns] == [
            [v] * len(event.prediction or []) for v in ROW
        ]


def test_a_bad_csv_line_is_observed_after_the_rows_before_it(iris: Predictor) -> None:
    plane, heard = _plane(iris, csv_chunk_rows=2)
    header = ",".join(IRIS_SETOSA)
    line = ",".join(str(v) for v in ROW)
    source = io.BytesIO(f"{header}\n{line}\n{line}\nx,1,1,1\n".encode())
    with pytest.raises(InvalidInput, match="line 4"):
        plane.score_csv(iris, source, False, _call("csv"))
    assert [(e.status, e.first_row) for e in heard] == [(200, 0), (422, 2)]


def test_an_answer_past_the_budget_is_scored_again_not_held(iris: Predictor) -> None:
    plane, heard = _plane(iris, csv_chunk_rows=2)
    plane.budget.limit = 100  # bytes: the header and a chunk at most
    header = ",".join(IRIS_SETOSA)
    line = ",".join(str(v) for v in ROW)
    text = ("\n".join([header, *[line] * 9]) + "\n").encode()
    answer = plane.score_csv(iris, io.BytesIO(text), False, _call("csv"))
    assert answer.blocks is None
    assert plane.budget.used == 0  # what was held on the way is given back
    again = b"".join(plane.rescore_csv(iris, io.BytesIO(text), False))
    assert again.count(b"\n") == 10
    assert sum(len(e.prediction or []) for e in heard) == 9  # observed once, not twice


def test_a_refused_csv_gives_its_budget_back(iris: Predictor) -> None:
    plane, _ = _plane(iris, csv_chunk_rows=2)
    header = ",".join(IRIS_SETOSA)
    line = ",".join(str(v) for v in ROW)
    source = io.BytesIO(f"{header}\n{line}\n{line}\nx,1,1,1\n".encode())
    with pytest.raises(InvalidInput):
        plane.score_csv(iris, source, False, _call("csv"))
    assert plane.budget.used == 0


def test_models_by_name_and_version(iris: Predictor) -> None:
    plane, _ = _plane(iris)
    assert plane.model("iris") is iris
    assert plane.model("iris", iris.version) is iris
    assert plane.find("nope") is None
    with pytest.raises(ModelNotFound, match="Served models: iris"):
        plane.model("nope")
    with pytest.raises(ModelNotFound, match="has no version"):
        plane.model("iris", "0.0.0-nope")


def test_without_observers_nothing_is_built(
    iris: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = DataPlane(ModelRepository([iris]), Settings(), Metrics())

    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an event was built with no one to hear it")

    monkeypatch.setattr("dockyard.server.dataplane.PredictionEvent", fail)
    asyncio.run(plane.predict_records(iris, [IRIS_SETOSA], _call()))

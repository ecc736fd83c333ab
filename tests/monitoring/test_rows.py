"""The writer's bulk encoding (:class:`Gathered`) gives the rows that encoding each event
alone (:func:`encode_into`) gives, for every kind of model, and leaves out only the events
it cannot encode."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import numpy as np
import orjson
import pytest

from dockyard.monitoring.migrations import rows_from
from dockyard.monitoring.parcels import SLICE_ROWS
from dockyard.monitoring.rows import Gathered, encode_into
from dockyard.predictor import Predictor
from dockyard.predictor.events import PredictionEvent
from dockyard.predictor.prediction import Prediction
from tests.conftest import IRIS_SETOSA
from tests.monitoring.conftest import answered
from tests.monitoring.test_store import VERSICOLOR, _diabetes_records
from tests.unsupervised import INLIER, OUTLIER


def events_of(predictor: Predictor, records: list[dict[str, Any]]) -> list[PredictionEvent]:
    """Single-row requests, a multi-row one, CSV chunks with and without their inputs, and
    one larger than a slice, so that slices end inside and between events."""
    events = [
        answered(predictor, [records[i % len(records)]], request_id=f"one-{i}") for i in range(7)
    ]
    events.append(answered(predictor, records * 3, request_id="many", entry="v2"))
    chunk = answered(predictor, records * 2, request_id="csv", entry="csv", first_row=4096)
    events += [chunk, dataclasses.replace(chunk, columns=None, first_row=4100)]
    events.append(answered(predictor, records * (SLICE_ROWS // len(records) + 3), request_id="big"))
    events += [answered(predictor, [records[0]], request_id=f"after-{i}") for i in range(3)]
    return events


def one_by_one(events: list[PredictionEvent], *, inputs: bool) -> list[Any]:
    values: list[Any] = []
    for event in events:
        encode_into(values, event, inputs=inputs)
    return values


def gathered(predictor: Predictor, events: list[PredictionEvent]) -> Gathered:
    rows = Gathered(predictor)
    for event in events:
        rows.add(event)
    return rows


MODELS = [
    ("iris", [IRIS_SETOSA, VERSICOLOR]),
    ("diabetes", None),
    ("segments", [INLIER, OUTLIER]),
    ("anomalies", [INLIER, OUTLIER]),
]
"""A bundle fixture of each kind, with records for it (``None``: diabetes rows)."""


@pytest.mark.parametrize(("name", "records"), MODELS)
@pytest.mark.parametrize("inputs", [True, False])
def test_bulk_encoding_gives_the_rows_of_each_event_encoded_alone(
    request: pytest.FixtureRequest, name: str, records: Any, inputs: bool
) -> None:
    predictor: Predictor = request.getfixturevalue(name)
    events = events_of(predictor, records or _diabetes_records())
    rows = gathered(predictor, events)
    assert rows.rows == sum(len(e.prediction or ()) for e in events)
    pauses: list[None] = []
    values: list[Any] = []
    assert rows.parcel.encode(values, inputs=inputs, pause=lambda: pauses.append(None)) == 0
    assert values == one_by_one(events, inputs=inputs)
    # The event loop had a chance to run between slices, not only at the end.
    assert len(pauses) >= rows.rows // SLICE_ROWS
    # As the writer process gets it: one score matrix crosses, split again on arrival.
    shipped = pickle.loads(pickle.dumps(rows.parcel))
    blocks = rows.parcel.scores
    if blocks[0] is None:
        assert shipped.scores == blocks
    else:
        (stacked,) = shipped.scores
        assert stacked.tolist() == [row for block in blocks for row in block.tolist()]
    again: list[Any] = []
    assert shipped.encode(again, inputs=inputs) == 0
    assert again == values


REVIEWS = [
    {"review": 'so-so "100%" café, {fine} [ok]', "channel": "web", "age": None},
    {"review": "great staff, quick", "channel": "phone", "age": 31.5},
]


@pytest.mark.parametrize(("name", "records"), [*MODELS, ("reviews", REVIEWS)])
def test_each_row_holds_the_json_orjson_writes_of_its_objects(
    request: pytest.FixtureRequest, name: str, records: Any
) -> None:
    # The writer puts the text together from columns and templates; it must be the text of
    # the objects a client is answered with, for every kind of model and value.
    predictor: Predictor = request.getfixturevalue(name)
    events = events_of(predictor, records or _diabetes_records())
    if name == "iris":
        nan = answered(predictor, [IRIS_SETOSA], request_id="nan")
        scores = np.array([[np.nan, 0.5, 0.5]])
        events.append(dataclasses.replace(nan, prediction=Prediction(["setosa"], scores)))
    values: list[Any] = []
    assert gathered(predictor, events).parcel.encode(values) == 0
    rows = iter(rows_from(values))
    dumps = orjson.dumps
    for event in events:
        prediction = event.prediction
        assert prediction is not None
        for index, answer in enumerate(predictor.to_json(prediction)):
            row = next(rows)
            assert row[-1] == dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY).decode()
            key = predictor.answers.key
            assert row[-2] == dumps(answer[key], option=orjson.OPT_SERIALIZE_NUMPY).decode()
            if event.columns is None:
                assert row[-3] is None
            else:
                inputs = dict(
                    zip(predictor.feature_names, (c[index] for c in event.columns), strict=True)
                )
                assert row[-3] == dumps(inputs, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    assert next(rows, None) is None


def test_the_drift_gauges_get_the_rows_column_by_column(iris: Predictor) -> None:
    events = [
        answered(iris, [IRIS_SETOSA], request_id="a"),
        answered(iris, [VERSICOLOR, IRIS_SETOSA], request_id="b"),
    ]
    rows = gathered(iris, events).answered
    setosa, versicolor = IRIS_SETOSA["sepal_length"], VERSICOLOR["sepal_length"]
    assert rows.columns[0] == [setosa, versicolor, setosa]
    assert rows.outputs == ["setosa", "versicolor", "setosa"]


def test_an_event_that_cannot_be_encoded_is_left_out_alone(
    iris: Predictor, caplog: pytest.LogCaptureFixture
) -> None:
    good = events_of(iris, [IRIS_SETOSA, VERSICOLOR])
    first = good[0]
    # Scores for two classes where there are three, then a label JSON cannot hold: each
    # spoils the slice it is in, and only it is left out.
    wide = dataclasses.replace(
        first, request_id="wide", prediction=Prediction(["setosa"], np.array([[0.5, 0.5]]))
    )
    odd = dataclasses.replace(
        first,
        request_id="odd",
        prediction=Prediction([object()] * 3, None),
        columns=[[5.0] * 3 for _ in iris.feature_names],
    )
    events = [*good[:3], wide, *good[3:-1], odd, good[-1]]
    values: list[Any] = []
    assert gathered(iris, events).parcel.encode(values) == 1 + 3
    assert values == one_by_one(good, inputs=True)
    assert "cannot record request wide" in caplog.text
    assert "cannot record request odd" in caplog.text

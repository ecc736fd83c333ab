"""Text models, open categories and nullable features through the predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dockyard.errors import InvalidInput
from dockyard.predictor import Predictor

NEW = ["wonderful friendly staff, would come back", "rude and slow, never again"]


def test_one_dimensional_text_model_scores_new_sentences(sentiment: Predictor) -> None:
    prediction = sentiment.predict_columns(sentiment.validator.records([{"text": s} for s in NEW]))
    assert prediction.outputs == ["good", "bad"]
    assert prediction.outputs == sentiment.model.predict(NEW).tolist()
    # The query string and CSV paths take text too.
    assert sentiment.predict_columns(sentiment.validator.text_record({"text": NEW[0]})).outputs == [
        "good"
    ]
    columns = sentiment.validator.text_columns([NEW], first_line=2)
    assert sentiment.predict_columns(columns).outputs == ["good", "bad"]


def test_text_column_model_takes_new_text_unseen_channel_and_no_age(reviews: Predictor) -> None:
    reviews.validator.unseen.drain()
    records = [
        {"review": NEW[0], "channel": "carrier pigeon"},
        {"review": NEW[1], "channel": "web", "age": None},
        {"review": NEW[1], "channel": "web", "age": 30},
    ]
    prediction = reviews.predict_columns(reviews.validator.records(records))
    frame = pd.DataFrame(
        {
            "review": [NEW[0], NEW[1], NEW[1]],
            "channel": ["carrier pigeon", "web", "web"],
            "age": [np.nan, np.nan, 30.0],
        }
    )
    assert prediction.outputs == ["good", "bad", "bad"]
    assert prediction.outputs == reviews.model.predict(frame).tolist()
    np.testing.assert_allclose(prediction.probabilities, reviews.model.predict_proba(frame))  # type: ignore[arg-type]
    assert reviews.validator.unseen.drain() == {"channel": 1}


def test_a_required_text_is_still_required(reviews: Predictor) -> None:
    with pytest.raises(InvalidInput) as exc:
        reviews.predict_columns(reviews.validator.records([{"channel": "web", "age": 30}]))
    assert [(e.field, e.reason) for e in exc.value.errors] == [("review", "missing")]

"""Text models, open categories and nullable features over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings

SENTENCE = "wonderful friendly staff, would come back"


@pytest.fixture(scope="module")
def text_client(reviews: Predictor, sentiment: Predictor, churn: Predictor) -> Iterator[TestClient]:
    # The session shares these predictors: unseen categories that other tests' requests
    # left in their tallies must not count here.
    for predictor in (reviews, sentiment, churn):
        predictor.validator.unseen.drain()
    app = create_app(Settings(), predictors=[reviews, sentiment, churn])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_new_sentence_gets_a_label(text_client: TestClient) -> None:
    response = text_client.post("/v1/models/sentiment/predict", json={"text": SENTENCE})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == [{"label": "good"}]
    response = text_client.get("/v1/models/sentiment/predict", params={"text": SENTENCE})
    assert response.json()["predictions"] == [{"label": "good"}]


def test_unseen_categories_are_accepted_and_counted(text_client: TestClient) -> None:
    record = {"review": SENTENCE, "channel": "carrier pigeon"}  # no age: it may be missing
    for _ in range(2):
        response = text_client.post("/v1/models/reviews/predict", json=record)
        assert response.status_code == 200, response.text
    response = text_client.get("/v1/models/reviews/predict", params=record)
    assert response.status_code == 200, response.text
    metrics = text_client.get("/metrics").text
    assert 'dockyard_unknown_category_total{feature="channel",model="reviews"} 3.0' in metrics


def test_a_strict_encoder_still_refuses_with_the_list(text_client: TestClient) -> None:
    record = {"plan": "gold", "region": "north", "tenure_months": 3, "monthly_spend": 40.0}
    response = text_client.post("/v1/models/churn/predict", json=record)
    assert response.status_code == 422
    assert response.json()["details"] == [
        {"field": "plan", "reason": "unknown category 'gold'; expected one of: basic, plus, pro"}
    ]


def test_the_contract_says_so(text_client: TestClient) -> None:
    document = text_client.get("/openapi.json").json()
    record = document["components"]["schemas"]["reviews_record"]
    assert record["required"] == ["review", "channel"]
    assert record["properties"]["review"] == {"type": "string"}
    assert record["properties"]["channel"] == {
        "type": "string",
        "examples": ["phone", "store", "web"],
    }
    inputs = text_client.get("/v2/models/sentiment").json()["inputs"]
    assert inputs == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

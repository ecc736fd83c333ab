"""The OpenAPI document is generated from the bundles; schemathesis checks the server
against it: no 5xx, every response as documented, for every model and operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server import create_app
from dockyard.settings import Settings


def test_request_schemas_carry_features_ranges_and_examples(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    record = doc["components"]["schemas"]["iris_record"]
    assert record["required"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert record["properties"]["sepal_length"]["type"] == "number"
    assert record["properties"]["sepal_length"]["x-training-range"] == [4.3, 7.9]
    assert "4.3 to 7.9" in record["properties"]["sepal_length"]["description"]
    assert record["example"] == client.get("/v1/models/iris").json()["metadata"]["input_example"][0]
    churn = doc["components"]["schemas"]["churn_record"]["properties"]
    assert churn["plan"] == {"type": "string", "enum": ["basic", "plus", "pro"]}
    assert churn["tenure_months"]["type"] == "integer"
    params = doc["paths"]["/v1/models/iris/predict"]["get"]["parameters"]
    assert [p["name"] for p in params] == record["required"]
    assert "/v2/models/wine/infer" in doc["paths"]


@pytest.fixture(scope="module")
def openapi_schema(bundles: Path) -> Iterator[schemathesis.schemas.BaseSchema]:
    predictors = [Predictor.from_path(bundles / n) for n in ("iris", "churn", "diabetes")]
    app = create_app(Settings(max_batch_rows=50, max_body_bytes=64 * 1024), predictors=predictors)
    with TestClient(app, raise_server_exceptions=False):  # runs the lifespan: /readyz is ready
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_api_conforms_to_its_schema(openapi_schema: schemathesis.schemas.BaseSchema) -> None:
    # schemathesis' pytest plugin does not run under pytest 9, so each operation's
    # strategy is driven by Hypothesis directly: same generation, same checks.
    operations = [result.ok() for result in openapi_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.label}: {exc}") from exc

"""The OpenAPI document is generated from the bundles; schemathesis checks the server
against it: no 5xx, every response as documented, for every model and operation."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

from dockyard.bundle.metadata import Task
from dockyard.errors import UsageError
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.server.tensors import NUMPY_TYPES
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


def test_docs_serve_a_swagger_ui_that_reads_openapi_3_1(client: TestClient) -> None:
    # Swagger UI 4 answers an OpenAPI 3.1 document with "Unable to render this definition";
    # 5 reads it (tests/web/test_browser_docs.py checks what the browser renders).
    assert client.get("/openapi.json").json()["openapi"] == "3.1.0"
    assert '<script src="/static/swagger/swagger-ui-bundle.js">' in client.get("/docs").text
    bundle = client.get("/static/swagger/swagger-ui-bundle.js").text
    version = re.search(r'PACKAGE_VERSION:"(\d+)\.(\d+)\.', bundle)
    assert version is not None
    assert int(version[1]) >= 5


def _vendored(root: Path, *versions: str) -> None:
    package = root / "swagger_ui_bundle"
    for version in versions:
        assets = package / "vendor" / f"swagger-ui-{version}"
        assets.mkdir(parents=True)
        (assets / "swagger-ui-bundle.js").write_text(f"// {version}")
    (package / "__init__.py").write_text("")


def test_the_newest_vendored_swagger_ui_is_served(
    iris: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # swagger-ui-bundle and swagger-ui-bundle-v2 share a package: an upgraded environment
    # holds both versions' directories. 5.31 is newer than 5.9, whatever the name order.
    _vendored(tmp_path, "4.15.5", "5.31.0", "5.9.0")
    monkeypatch.delitem(sys.modules, "swagger_ui_bundle", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    client = TestClient(create_app(Settings(), predictors=[iris]))
    assert client.get("/static/swagger/swagger-ui-bundle.js").text == "// 5.31.0"


def test_a_swagger_ui_that_cannot_read_openapi_3_1_is_refused(
    iris: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _vendored(tmp_path, "4.15.5")
    monkeypatch.delitem(sys.modules, "swagger_ui_bundle", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match=r"Swagger UI 4\.15\.5 cannot show") as caught:
        create_app(Settings(), predictors=[iris])
    assert "swagger-ui-bundle-v2" in str(caught.value.hint)


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_fixed_and_generated_parts_fit_together(client: TestClient) -> None:
    # The fixed parts are data (server/openapi.json), the per-model parts code: every
    # reference either makes resolves, and the enums other modules define are filled in.
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert "#/components/schemas/Error" in refs
    assert "#/components/schemas/iris_v2_request" in refs
    assert {r.removeprefix("#/components/schemas/") for r in refs} <= set(schemas)
    assert schemas["ModelSummary"]["properties"]["task"]["enum"] == list(get_args(Task))
    assert schemas["V2Tensor"]["properties"]["datatype"]["enum"] == [*NUMPY_TYPES, "BYTES"]
    assert {"/healthz", "/readyz", "/metrics", "/v1/models", "/v2/health/ready"} <= set(
        doc["paths"]
    )

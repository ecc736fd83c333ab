"""Clustering and outlier bundles through every HTTP entry point: v1 JSON (POST and GET),
CSV, the Open Inference Protocol, the OpenAPI document, the model page and the metrics."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from starlette.testclient import TestClient

from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.unsupervised import INLIER, OUTLIER


@pytest.fixture(scope="module")
def client(unsupervised_bundles: dict[str, Path]) -> Iterator[TestClient]:
    predictors = [Predictor.from_path(p) for p in unsupervised_bundles.values()]
    app = create_app(Settings(), predictors=predictors)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _response_schema(client: TestClient, name: str) -> dict[str, object]:
    doc = client.get("/openapi.json").json()
    schema: dict[str, object] = {
        **doc["components"]["schemas"][f"{name}_response"],
        "components": doc["components"],
    }
    return schema


def test_v1_clusters_with_distances_as_documented(client: TestClient) -> None:
    response = client.post("/v1/models/segments/predict", json=[INLIER, OUTLIER])
    assert response.status_code == 200, response.text
    body = response.json()
    first, _ = body["predictions"]
    assert set(first) == {"cluster", "distances"}
    assert first["cluster"] == int(min(first["distances"], key=first["distances"].get))
    jsonschema.validate(body, _response_schema(client, "segments"))
    query = client.get("/v1/models/segments/predict", params=INLIER)
    assert query.json()["predictions"] == [first]


def test_v1_mixture_answers_probabilities(client: TestClient) -> None:
    body = client.post("/v1/models/mixture/predict", json=INLIER).json()
    [row] = body["predictions"]
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    jsonschema.validate(body, _response_schema(client, "mixture"))


@pytest.mark.parametrize("name", ["anomalies", "novelty"])
def test_v1_outliers_with_scores_as_documented(client: TestClient, name: str) -> None:
    body = client.post(f"/v1/models/{name}/predict", json=[INLIER, OUTLIER]).json()
    assert [p["label"] for p in body["predictions"]] == ["inlier", "outlier"]
    assert body["predictions"][0]["score"] > 0 > body["predictions"][1]["score"]
    jsonschema.validate(body, _response_schema(client, name))


def test_documented_schema_rejects_a_wrong_shape(client: TestClient) -> None:
    # The check above must be able to fail: a classifier's answer is not a cluster's.
    wrong = {"model": "segments", "version": "1.0.0", "predictions": [{"label": 1}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, _response_schema(client, "segments"))


def _csv(*records: dict[str, float]) -> str:
    names = list(records[0])
    lines = ["id," + ",".join(names)]
    lines += [f"r{i}," + ",".join(str(r[n]) for n in names) for i, r in enumerate(records)]
    return "\n".join(lines) + "\n"


def test_csv_appends_cluster_and_distances(client: TestClient) -> None:
    response = client.post(
        "/v1/models/segments/predict/csv",
        content=_csv(INLIER, OUTLIER),
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0])[-4:] == ["cluster", "distance_0", "distance_1", "distance_2"]
    json_rows = client.post("/v1/models/segments/predict", json=[INLIER, OUTLIER]).json()
    for row, expected in zip(rows, json_rows["predictions"], strict=True):
        assert int(row["cluster"]) == expected["cluster"]
        assert float(row["distance_0"]) == pytest.approx(expected["distances"]["0"])


def test_csv_appends_label_and_score(client: TestClient) -> None:
    response = client.post(
        "/v1/models/anomalies/predict/csv",
        content=_csv(INLIER, OUTLIER),
        headers={"content-type": "text/csv"},
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["id"], r["label"]) for r in rows] == [("r0", "inlier"), ("r1", "outlier")]
    assert float(rows[0]["score"]) > 0 > float(rows[1]["score"])


def _v2_inputs(*records: dict[str, float]) -> list[dict[str, object]]:
    return [
        {"name": n, "shape": [len(records)], "datatype": "FP64", "data": [r[n] for r in records]}
        for n in records[0]
    ]


def test_v2_clusters_and_distances(client: TestClient) -> None:
    meta = client.get("/v2/models/segments").json()
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "transform", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert meta["parameters"]["task"] == "clustering"
    body = client.post(
        "/v2/models/segments/infer", json={"inputs": _v2_inputs(INLIER, OUTLIER)}
    ).json()
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["transform"]["shape"] == [2, 3]
    assert len(outputs["transform"]["data"]) == 6
    v1 = client.post("/v1/models/segments/predict", json=[INLIER, OUTLIER]).json()
    assert outputs["predict"]["data"] == [p["cluster"] for p in v1["predictions"]]


def test_v2_outliers_and_scores(client: TestClient) -> None:
    meta = client.get("/v2/models/anomalies").json()
    assert meta["outputs"][1] == {"name": "decision_function", "datatype": "FP64", "shape": [-1]}
    body = client.post(
        "/v2/models/anomalies/infer",
        json={"inputs": _v2_inputs(INLIER, OUTLIER), "outputs": [{"name": "predict"}]},
    ).json()
    assert body["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["inlier", "outlier"]}
    ]
    scored = client.post(
        "/v2/models/anomalies/infer", json={"inputs": _v2_inputs(INLIER, OUTLIER)}
    ).json()
    [scores] = [o for o in scored["outputs"] if o["name"] == "decision_function"]
    assert scores["shape"] == [2]
    assert scores["data"][0] > 0 > scores["data"][1]


def test_model_list_and_page_show_the_task_and_sizes(client: TestClient) -> None:
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert listed["segments"]["task"] == "clustering"
    page = client.get("/models/anomalies")
    assert page.status_code == 200
    assert "Outlier detector" in page.text
    assert "Inliers and outliers" in page.text
    assert "Flagged as outliers" in page.text
    assert "on the 150 rows it was trained on" in page.text
    clusters = client.get("/models/segments").text
    assert "Cluster sizes" in clusters
    assert "Silhouette" in clusters
    assert "distance to each cluster centre will appear here" in clusters


def test_metrics_tally_clusters_and_outliers(client: TestClient) -> None:
    client.post("/v1/models/anomalies/predict", json=[INLIER, OUTLIER, OUTLIER])
    text = client.get("/metrics").text
    assert 'model="anomalies",label="outlier"' in text or (
        'label="outlier",model="anomalies"' in text
    )


def test_model_list_is_as_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schema = {**doc["components"]["schemas"]["ModelList"], "components": doc["components"]}
    jsonschema.validate(client.get("/v1/models").json(), schema)


def test_api_conforms_to_its_schema(unsupervised_bundles: dict[str, Path]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    predictors = [Predictor.from_path(unsupervised_bundles[n]) for n in ("segments", "anomalies")]
    app = create_app(Settings(max_batch_rows=50), predictors=predictors)
    with TestClient(app, raise_server_exceptions=False):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [
            op for result in schema.get_all_operations() if "/models/" in (op := result.ok()).path
        ]
        assert len(operations) >= 6
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=15,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate()

            try:
                check()
            except Exception as exc:
                raise AssertionError(f"{operation.label}: {exc}") from exc

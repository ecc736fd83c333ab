"""The reproducibility matrix: a bundle's probe rows (its golden rows) through local serve,
``dockyard predict``, the full image, the slim image and a compose service give the same
JSON answers, byte for byte, for a classifier, a regressor, a boolean target and a
categorical pipeline (docs/reproducibility.md)."""

from __future__ import annotations

import csv
import http.client
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import dockyard
from dockyard.cli.main import main
from dockyard.errors import ExitCode
from dockyard.packaging import engine
from dockyard.packaging.compose import Service, render
from dockyard.packaging.images import build_image
from dockyard.packaging.verification import verify_image
from dockyard.predictor import Predictor, label_text
from dockyard.predictor.golden import GOLDEN_FILE
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.packaging import served
from tests.processes import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

KINDS = ("classifier", "regressor", "boolean", "categorical")


@pytest.fixture(scope="module")
def matrix(
    iris_bundle: Path, diabetes_bundle: Path, boolean_bundle: Path, churn_bundle: Path
) -> dict[str, Path]:
    bundles = dict(
        zip(KINDS, (iris_bundle, diabetes_bundle, boolean_bundle, churn_bundle), strict=True)
    )
    # Every column of the matrix serves the runtime each bundle records; a slim image
    # needs that to be its ONNX export.
    for kind, bundle in bundles.items():
        runtime = dockyard.read_metadata(bundle).runtime
        assert runtime.kind == "onnx", f"{kind}: {runtime.reason}"
    return bundles


@pytest.fixture(scope="module")
def full_image(docker_client: Any, base_image: str, matrix: dict[str, Path]) -> str:
    return build_image(
        list(matrix.values()), console=served.console(), tag="dockyard-test/matrix:full",
        base_image=base_image, offline=True, client=docker_client,
    ).tag  # fmt: skip


@pytest.fixture(scope="module")
def slim_image(
    docker_client: Any, base_image: str, build_base: str, matrix: dict[str, Path]
) -> str:
    return build_image(
        list(matrix.values()), console=served.console(), tag="dockyard-test/matrix:slim",
        base_image=base_image, offline=True, client=docker_client, slim=True,
        build_base=build_base,
    ).tag  # fmt: skip


def _probes(bundle: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((bundle / GOLDEN_FILE).read_text("utf-8"))["rows"]
    return rows


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, allow_nan=False).encode()


def _post(url: str, path: str, body: Any) -> tuple[bytes, str]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"content-type": "application/json"}
        )
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200, data
        return data, response.getheader("x-dockyard-runtime") or ""
    finally:
        connection.close()


def _container_answers(url: str, matrix: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    return {
        kind: _post(url, f"/v1/models/{b.name}/predict", {"instances": _probes(b)})
        for kind, b in matrix.items()
    }


def _local_answers(matrix: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    """``dockyard serve`` here: the settings load the bundles (and check their golden answers)."""
    settings = Settings(bundles=list(matrix.values()))
    out = {}
    with TestClient(create_app(settings)) as client:
        for kind, bundle in matrix.items():
            response = client.post(
                f"/v1/models/{bundle.name}/predict", json={"instances": _probes(bundle)}
            )
            assert response.status_code == 200, response.text
            out[kind] = (response.content, response.headers["x-dockyard-runtime"])
    return out


def _predict_answers(matrix: dict[str, Path], tmp: Path) -> dict[str, bytes]:
    """``dockyard predict`` on the probe rows as CSV, read back into the JSON the server
    answers (its floats are written in the shortest form that reads back exactly)."""
    out = {}
    for kind, bundle in matrix.items():
        predictor = Predictor.from_path(bundle)
        rows = _probes(bundle)
        source, scored = tmp / f"{kind}.csv", tmp / f"{kind}-scored.csv"
        with source.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=predictor.feature_names)
            writer.writeheader()
            writer.writerows(
                {k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows
            )
        assert main(["predict", str(bundle), str(source), "-o", str(scored)]) == ExitCode.OK
        with scored.open(newline="", encoding="utf-8") as fh:
            cells = list(csv.DictReader(fh))
        out[kind] = _canonical(
            {
                "model": predictor.name,
                "version": predictor.version,
                "predictions": [_from_csv(predictor, c) for c in cells],
            }
        )
    return out


def _from_csv(predictor: Predictor, cells: dict[str, str]) -> dict[str, Any]:
    target = predictor.metadata.target.name
    if predictor.task == "regression":
        return {"value": float(cells[f"predicted_{target}"])}
    by_key = {label_text(c): c for c in predictor.classes}
    answer: dict[str, Any] = {"label": by_key[cells[f"predicted_{target}"]]}
    if predictor.has_probabilities:
        answer["probabilities"] = {
            k: float(cells[f"probability_{k}"]) for k in predictor.class_keys
        }
    return answer


@pytest.fixture
def compose_url(full_image: str, tmp_path: Path) -> Iterator[str]:
    compose_bin = shutil.which("docker-compose")
    if compose_bin is None:
        pytest.fail("docker-compose is not installed (scripts/ci-system installs it)")
    service = Service("matrix", full_image, free_port(), "3.11")
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(render([service]))
    command = [compose_bin, "-f", str(compose_file), "-p", "dockyardmatrix"]
    subprocess.run([*command, "up", "-d"], check=True, capture_output=True)
    try:
        url = f"http://127.0.0.1:{service.host_port}"
        engine.wait_ready(url, timeout=90)
        yield url
    finally:
        subprocess.run([*command, "down", "--timeout", "20"], check=True, capture_output=True)


def test_every_surface_gives_the_same_answers_byte_for_byte(
    docker_client: Any,
    matrix: dict[str, Path],
    full_image: str,
    slim_image: str,
    compose_url: str,
    containers: list[Any],
    tmp_path: Path,
) -> None:
    surfaces: dict[str, dict[str, tuple[bytes, str]]] = {"local serve": _local_answers(matrix)}
    for name, tag in (("full image", full_image), ("slim image", slim_image)):
        container, url = engine.run(docker_client, tag, port=None)
        containers.append(container)
        engine.wait_ready(url, timeout=90, container=container)
        surfaces[name] = _container_answers(url, matrix)
    surfaces["compose service"] = _container_answers(compose_url, matrix)
    reference = surfaces["local serve"]
    for surface, answers in surfaces.items():
        for kind in KINDS:
            body, runtime = answers[kind]
            # The raw HTTP bodies, not only their parsed values.
            assert body == reference[kind][0], f"{surface}, {kind}"
            assert runtime == "onnx", f"{surface}, {kind}"
    predicted = _predict_answers(matrix, tmp_path)
    for kind in KINDS:
        assert predicted[kind] == _canonical(json.loads(reference[kind][0])), kind


def test_dockyard_verify_recomputes_the_golden_answers_in_each_image(
    docker_client: Any, full_image: str, slim_image: str, matrix: dict[str, Path]
) -> None:
    for tag in (full_image, slim_image):
        checks = verify_image(docker_client, tag)
        assert {c.name for c in checks} == {b.name for b in matrix.values()}
        for check in checks:
            assert "probe rows answered by onnx as recorded, bit for bit" in check.golden, tag
            assert "within the bundle's tolerance of sklearn's" in check.golden, tag

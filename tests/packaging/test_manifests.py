from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from dockyard.bundle import bundle_digest, read_metadata
from dockyard.packaging import compose, kubernetes, yamlwriter


def test_yaml_writer_round_trips_through_pyyaml() -> None:
    doc = {
        "a": {"b": [1, "two", True, {"c": "0.0.0.0:80", "d": []}], "e": {}},
        "f": "yes",
        "g": 1.5,
    }
    assert yaml.safe_load(yamlwriter.dump(doc)) == doc


def test_compose_file_has_one_hardened_service_per_model() -> None:
    text = compose.render(
        [
            compose.Service("iris", "iris:1.0.0", 8000, "3.11"),
            compose.Service("wine", "wine:1.0.0", 8001, "3.11"),
        ]
    )
    doc = yaml.safe_load(text)
    assert doc["version"] == "3.8"
    assert set(doc["services"]) == {"iris", "wine"}
    wine = doc["services"]["wine"]
    assert wine["ports"] == ["127.0.0.1:8001:8000"]
    assert wine["restart"] == "unless-stopped"
    assert wine["read_only"] is True
    assert wine["tmpfs"] == ["/tmp"]
    assert wine["healthcheck"]["test"][:3] == ["CMD", "python", "-I"]
    with pytest.raises(ValueError, match="same host port"):
        compose.render(
            [compose.Service("a", "a:1", 1, "3.11"), compose.Service("b", "b:1", 1, "3.11")]
        )


def test_kubernetes_manifests_validate_and_are_hardened(tmp_path: Path, iris_bundle: Path) -> None:
    meta = read_metadata(iris_bundle)
    paths = kubernetes.write(
        tmp_path, kubernetes.manifests(meta, "iris:1.0.0", bundle_digest(iris_bundle))
    )
    docs = {p.name: yaml.safe_load(p.read_text()) for p in paths}
    for doc in docs.values():
        kubernetes_validate.validate(doc, desired_version="1.30", strict=True)
    pod = docs["deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    security = container["securityContext"]
    assert security["runAsNonRoot"]
    assert security["readOnlyRootFilesystem"]
    assert security["allowPrivilegeEscalation"] is False
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert docs["hpa.yaml"]["apiVersion"] == "autoscaling/v2"
    assert docs["service.yaml"]["spec"]["ports"][0]["targetPort"] == "http"


def test_kubernetes_updates_keep_capacity_and_drain(tmp_path: Path, iris_bundle: Path) -> None:
    meta = read_metadata(iris_bundle)
    docs = kubernetes.manifests(meta, "iris:1.0.0", bundle_digest(iris_bundle))
    for doc in docs.values():
        kubernetes_validate.validate(doc, desired_version="1.30", strict=True)
    spec = docs["deployment.yaml"]["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # gates the rollout
    prestop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    env = {e["name"]: float(e["value"]) for e in container["env"]}
    # The whole stop (preStop, then the server's drain and graceful finish) fits the grace.
    assert pod["terminationGracePeriodSeconds"] > (
        prestop + env["DOCKYARD_DRAIN_SECONDS"] + env["DOCKYARD_GRACEFUL_TIMEOUT"]
    )
    budget = docs["pdb.yaml"]
    assert budget["kind"] == "PodDisruptionBudget"
    assert budget["spec"]["selector"] == spec["selector"]
    assert budget["spec"]["maxUnavailable"] == 1

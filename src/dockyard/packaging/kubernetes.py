"""Kubernetes manifests for one model: a Deployment, a Service, a HorizontalPodAutoscaler
and a PodDisruptionBudget.

The pod runs as the image's non-root UID with a read-only root filesystem, no privilege
escalation and no capabilities; /tmp is an emptyDir, the one place the server may write.

Updates keep capacity, as ``dockyard stack`` does on Swarm: one extra pod at a time
(``maxSurge: 1``), none taken away before its replacement is ready (``maxUnavailable: 0``).
A terminating pod first waits ``PRESTOP_SECONDS`` in its preStop hook, serving normally,
while the endpoint controllers take it out of the Service; then SIGTERM starts the server's
own drain (readiness off, every answer closing its connection) and its graceful stop, all
inside the termination grace period. Voluntary disruptions (node drains) leave at least
all but one replica running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.bundle.metadata import BundleMetadata
from dockyard.packaging import dockerfile, yamlwriter

PRESTOP_SECONDS = 5
"""The preStop sleep: how long endpoint removal may take to reach every proxy."""
DRAIN_SECONDS = 5
"""The server's drain after SIGTERM (``DOCKYARD_DRAIN_SECONDS``)."""
GRACEFUL_SECONDS = 20
"""The server's graceful timeout after the drain (``DOCKYARD_GRACEFUL_TIMEOUT``)."""


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


@dataclass(frozen=True, slots=True)
class Scaling:
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    cpu_utilization: int = 70


def manifests(
    meta: BundleMetadata,
    image: str,
    digest: str,
    *,
    resources: Resources | None = None,
    scaling: Scaling | None = None,
) -> dict[str, dict[str, Any]]:
    """The four manifests, by file name."""
    resources = resources or Resources()
    scaling = scaling or Scaling()
    labels = {
        "app.kubernetes.io/name": meta.name,
        "app.kubernetes.io/version": meta.version,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "dockyard",
    }
    selector = {"app.kubernetes.io/name": meta.name}
    probe = {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
    }
    container = {
        "name": "server",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": dockerfile.PORT, "protocol": "TCP"}],
        # Startup covers model loading; then liveness restarts a hung process and
        # readiness takes a pod out of the Service while it cannot answer.
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": {**probe, "failureThreshold": 2},
        "env": [
            {"name": "DOCKYARD_DRAIN_SECONDS", "value": str(DRAIN_SECONDS)},
            {"name": "DOCKYARD_GRACEFUL_TIMEOUT", "value": str(GRACEFUL_SECONDS)},
        ],
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": dockerfile.UID,
            "runAsGroup": dockerfile.UID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": meta.name, "labels": labels},
        "spec": {
            "replicas": scaling.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "minReadySeconds": 5,
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {"io.dockyard/bundle-sha256": digest},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": PRESTOP_SECONDS
                    + DRAIN_SECONDS
                    + GRACEFUL_SECONDS
                    + 5,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": meta.name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": meta.name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": meta.name},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.cpu_utilization,
                        },
                    },
                }
            ],
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": meta.name, "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    return {
        "deployment.yaml": deployment,
        "service.yaml": service,
        "hpa.yaml": hpa,
        "pdb.yaml": budget,
    }


def write(directory: Path, documents: dict[str, dict[str, Any]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents.items():
        path = directory / name
        path.write_text(
            "# Written by 'dockyard k8s'. Apply: kubectl apply -f .\n" + yamlwriter.dump(document),
            encoding="utf-8",
        )
        written.append(path)
    return written

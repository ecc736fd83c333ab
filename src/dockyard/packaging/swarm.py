"""A Docker Swarm stack: one replicated service per model, updated one task at a time.

One document, :func:`stack`, is both what ``dockyard stack`` writes and what ``dockyard
deploy --to swarm`` hands to ``docker stack deploy``, so the two cannot drift apart.

Each service is hardened as in compose (read-only root, no capabilities, the image's
non-root user, a health check) and rolls out the way a model update should:

- ``start-first``, one task at a time: the new task must pass its health check before an
  old one stops, so capacity never drops;
- the update is watched for a ``monitor`` window longer than the health check's start
  period plus its retries (a task that never gets healthy has failed by then), and a
  failure rolls the whole service back to the previous version;
- the stop grace period covers the server's drain (readiness off, connections closed
  after each answer) plus its graceful timeout, so no accepted request is cut off.

Swarm has no ``no-new-privileges`` for services (compose sets it); the server runs as
UID 10001 with every capability dropped, so a setuid binary gains nothing.

Routing: ``vip`` (the default) gives each service a virtual IP and, with ``publish``,
a port on every node through the ingress mesh: what real clusters use. ``dnsrr`` gives
clients on the overlay network every task's address from DNS instead, for environments
where the mesh and VIPs do not route (some sandboxes and nested setups); publish then
uses ``mode: host``, one port on each node that runs a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dockyard.packaging import dockerfile, yamlwriter

STACK_FORMAT = "3.8"
NETWORK = "dockyard-models"
"""The attachable overlay network the services join (clients may join it too)."""

GRACEFUL_SECONDS = 20.0
"""The server's graceful timeout (``DOCKYARD_GRACEFUL_TIMEOUT``), set on every task."""


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Health:
    """The image's health check (GET /readyz), with timings for the orchestrator."""

    interval: float = 5.0
    timeout: float = 3.0
    retries: int = 3
    start_period: float = 30.0

    @property
    def give_up_after(self) -> float:
        """Seconds after start by which a task that never answers has been marked failed."""
        return self.start_period + self.interval * self.retries


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_limit: float = 1.0
    memory_limit: str = "1G"
    cpu_reservation: float = 0.25
    memory_reservation: str = "256M"


@dataclass(frozen=True, slots=True)
class ModelService:
    """One model as a replicated service."""

    name: str
    image: str
    version: str
    replicas: int = 2
    resources: Resources = field(default_factory=Resources)
    health: Health = field(default_factory=Health)
    drain_seconds: float = 3.0
    """The server's drain on SIGTERM (``DOCKYARD_DRAIN_SECONDS``)."""
    publish: int | None = None
    """Host port to publish the service on, if any."""
    api_key_secret: str | None = None
    """Name of an existing Swarm secret that holds the API key."""

    @property
    def stop_grace_seconds(self) -> float:
        return self.drain_seconds + GRACEFUL_SECONDS + 5

    @property
    def monitor_seconds(self) -> float:
        return self.health.give_up_after + 5


def _service(service: ModelService, endpoint_mode: str) -> dict[str, object]:
    health = service.health
    environment = {
        "DOCKYARD_DRAIN_SECONDS": f"{service.drain_seconds:g}",
        "DOCKYARD_GRACEFUL_TIMEOUT": f"{GRACEFUL_SECONDS:g}",
    }
    if service.api_key_secret:
        environment["DOCKYARD_API_KEY_FILE"] = f"/run/secrets/{service.api_key_secret}"
    rollout = {
        "parallelism": 1,
        "order": "start-first",
        "monitor": _duration(service.monitor_seconds),
        "max_failure_ratio": 0,
    }
    document: dict[str, object] = {
        "image": service.image,
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108 - a private tmpfs, the only writable path
        "cap_drop": ["ALL"],
        "environment": environment,
        "stop_grace_period": _duration(service.stop_grace_seconds),
        # The image's own HEALTHCHECK command (GET /readyz), with the orchestrator's timings.
        "healthcheck": {
            "interval": _duration(health.interval),
            "timeout": _duration(health.timeout),
            "retries": health.retries,
            "start_period": _duration(health.start_period),
        },
        "networks": ["models"],
        "labels": {"io.dockyard.model": service.name},
        "deploy": {
            "mode": "replicated",
            "replicas": service.replicas,
            "endpoint_mode": endpoint_mode,
            "labels": {
                "io.dockyard.model": service.name,
                "io.dockyard.version": service.version,
            },
            "resources": {
                "limits": {
                    "cpus": f"{service.resources.cpu_limit:g}",
                    "memory": service.resources.memory_limit,
                },
                "reservations": {
                    "cpus": f"{service.resources.cpu_reservation:g}",
                    "memory": service.resources.memory_reservation,
                },
            },
            "update_config": {**rollout, "delay": "2s", "failure_action": "rollback"},
            "rollback_config": {**rollout, "delay": "0s", "failure_action": "pause"},
            "restart_policy": {"condition": "any", "delay": "5s", "window": "60s"},
        },
    }
    if service.publish is not None:
        # The ingress mesh needs a VIP; with dnsrr only host-mode ports exist.
        mode = "ingress" if endpoint_mode == "vip" else "host"
        document["ports"] = [
            {"target": dockerfile.PORT, "published": service.publish, "mode": mode}
        ]
    if service.api_key_secret:
        document["secrets"] = [
            {
                "source": service.api_key_secret,
                "target": service.api_key_secret,
                "uid": str(dockerfile.UID),
                "gid": str(dockerfile.UID),
                "mode": 0o400,
            }
        ]
    return document


def stack(
    services: Sequence[ModelService], *, endpoint_mode: Literal["vip", "dnsrr"] = "vip"
) -> dict[str, object]:
    """The stack document (compose format 3.8, as ``docker stack deploy`` reads it)."""
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ValueError("two services have the same name")
    published = [s.publish for s in services if s.publish is not None]
    if len(set(published)) != len(published):
        raise ValueError("two services publish the same port")
    document: dict[str, object] = {
        "version": STACK_FORMAT,
        "services": {s.name: _service(s, endpoint_mode) for s in services},
        "networks": {"models": {"driver": "overlay", "attachable": True, "name": NETWORK}},
    }
    secrets = sorted({s.api_key_secret for s in services if s.api_key_secret})
    if secrets:
        document["secrets"] = {name: {"external": True} for name in secrets}
    return document


def render(
    services: Sequence[ModelService], *, endpoint_mode: Literal["vip", "dnsrr"] = "vip"
) -> str:
    header = (
        "# Written by 'dockyard stack'. Deploy: docker stack deploy -c THIS_FILE dockyard\n"
        '# API keys are Swarm secrets: printf %s "$KEY" | docker secret create NAME -\n'
    )
    return header + yamlwriter.dump(stack(services, endpoint_mode=endpoint_mode))


__all__ = ["NETWORK", "Health", "ModelService", "Resources", "render", "stack"]

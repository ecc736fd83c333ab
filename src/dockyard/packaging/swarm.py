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

With a :class:`StackDatabase`, a PostgreSQL service joins them (one task, stopped before its
replacement starts, on the node labelled ``io.dockyard.postgres=true``, where its volume
lives); its password is a Swarm secret made from a file beside the stack file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dockyard.errors import UsageError
from dockyard.packaging import database, dockerfile, yamlwriter

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


DATABASE_SECRET = database.SECRET
PGPASS_SECRET = "dockyard-postgres-pgpass"  # noqa: S105 - a secret's name
DATABASE_NODE_LABEL = database.NODE_LABEL
"""The node label that pins the database (and so its volume) to one node."""


@dataclass(frozen=True, slots=True)
class StackDatabase:
    """A PostgreSQL service for the models' prediction log."""

    password_file: str
    """The password's file, relative to the stack file or absolute
    (:func:`database.password_file`)."""
    pgpass_file: str
    """Its libpq twin, likewise (:func:`database.pgpass_file_for`)."""
    image: str = database.DEFAULT_IMAGE


def _secret(name: str, uid: int) -> dict[str, object]:
    return {"source": name, "target": name, "uid": str(uid), "gid": str(uid), "mode": 0o400}


def _service(
    service: ModelService, endpoint_mode: str, db: StackDatabase | None
) -> dict[str, object]:
    health = service.health
    environment = {
        "DOCKYARD_DRAIN_SECONDS": f"{service.drain_seconds:g}",
        "DOCKYARD_GRACEFUL_TIMEOUT": f"{GRACEFUL_SECONDS:g}",
    }
    secrets = []
    if service.api_key_secret:
        environment["DOCKYARD_API_KEY_FILE"] = f"/run/secrets/{service.api_key_secret}"
        secrets.append(_secret(service.api_key_secret, dockerfile.UID))
    if db is not None:
        environment[database.LOG_VARIABLE] = database.log_url()
        # libpq (under psycopg) reads the password from here: it is not in the URL.
        environment["PGPASSFILE"] = f"/run/secrets/{PGPASS_SECRET}"
        secrets.append(_secret(PGPASS_SECRET, dockerfile.UID))
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
    if secrets:
        document["secrets"] = secrets
    return document


def _database(db: StackDatabase, endpoint_mode: str) -> dict[str, object]:
    return {
        "image": db.image,
        "environment": {
            **database.environment(),
            "POSTGRES_PASSWORD_FILE": f"/run/secrets/{DATABASE_SECRET}",
        },
        # Root's: the image's entrypoint reads it before it drops to its own user.
        "secrets": [_secret(DATABASE_SECRET, 0)],
        "volumes": [f"{database.VOLUME}:{database.DATA}"],
        "healthcheck": database.healthcheck(),
        "stop_grace_period": "30s",
        "networks": ["models"],
        "labels": {"io.dockyard.database": "postgres"},
        "deploy": {
            "mode": "replicated",
            "replicas": 1,
            "endpoint_mode": endpoint_mode,
            # A local volume lives on one node: the task must always land there.
            "placement": {"constraints": [f"node.labels.{DATABASE_NODE_LABEL} == true"]},
            # Never two servers on one data directory: the old task stops first.
            "update_config": {
                "parallelism": 1,
                "order": "stop-first",
                "failure_action": "rollback",
            },
            "restart_policy": {"condition": "any", "delay": "5s"},
        },
    }


def stack(
    services: Sequence[ModelService],
    *,
    endpoint_mode: Literal["vip", "dnsrr"] = "vip",
    db: StackDatabase | None = None,
) -> dict[str, object]:
    """The stack document (compose format 3.8, as ``docker stack deploy`` reads it)."""
    names = [s.name for s in services]
    if len(set(names)) != len(names):
        raise ValueError("two services have the same name")
    if db is not None and database.SERVICE in names:
        raise UsageError(
            f"A model is named {database.SERVICE!r}, the name of the database service: "
            "save the model under another name (name=...) or leave out --database."
        )
    published = [s.publish for s in services if s.publish is not None]
    if len(set(published)) != len(published):
        raise ValueError("two services publish the same port")
    models = {s.name: _service(s, endpoint_mode, db) for s in services}
    document: dict[str, object] = {
        "version": STACK_FORMAT,
        "services": models
        if db is None
        else {database.SERVICE: _database(db, endpoint_mode), **models},
        "networks": {"models": {"driver": "overlay", "attachable": True, "name": NETWORK}},
    }
    secrets: dict[str, object] = {
        name: {"external": True}
        for name in sorted({s.api_key_secret for s in services if s.api_key_secret})
    }
    if db is not None:
        # Created from the file by 'docker stack deploy' (relative to the stack file).
        secrets[DATABASE_SECRET] = {"file": db.password_file}
        secrets[PGPASS_SECRET] = {"file": db.pgpass_file}
        document["volumes"] = {database.VOLUME: {}}
    if secrets:
        document["secrets"] = secrets
    return document


def render(
    services: Sequence[ModelService],
    *,
    endpoint_mode: Literal["vip", "dnsrr"] = "vip",
    db: StackDatabase | None = None,
) -> str:
    header = (
        "# Written by 'dockyard stack'. Deploy: docker stack deploy -c THIS_FILE dockyard\n"
        '# API keys are Swarm secrets: printf %s "$KEY" | docker secret create NAME -\n'
    )
    if db is not None:
        header += (
            f"# The database runs on the node labelled {DATABASE_NODE_LABEL}=true, where its "
            f"volume lives:\n#   docker node update --label-add {DATABASE_NODE_LABEL}=true NODE\n"
            f"# Its password is in {db.password_file} and {db.pgpass_file} (keep them with "
            "the volume).\n"
        )
    return header + yamlwriter.dump(stack(services, endpoint_mode=endpoint_mode, db=db))


__all__ = [
    "DATABASE_NODE_LABEL",
    "DATABASE_SECRET",
    "NETWORK",
    "PGPASS_SECRET",
    "Health",
    "ModelService",
    "Resources",
    "StackDatabase",
    "render",
    "stack",
]

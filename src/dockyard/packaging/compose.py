"""``compose.yaml`` for several models: one service each, hardened, health-checked, restarted.

With a :class:`Database`, a PostgreSQL service joins them (see :mod:`dockyard.packaging.database`):
its data on a named volume, which ``down`` keeps; the models start once it is healthy and
log their predictions to it.

Written in compose file format 3.8, which both Debian's docker-compose 1.29 (1.27 and later
read ``depends_on`` conditions in it) and Compose v2 read (v2 ignores the version key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import UsageError
from dockyard.packaging import database, dockerfile, yamlwriter

COMPOSE_FORMAT = "3.8"


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    image: str
    host_port: int
    python: str
    """``major.minor`` of the image's Python: it locates the healthcheck script."""


@dataclass(frozen=True, slots=True)
class Database:
    """A PostgreSQL service for the models' prediction log."""

    env_file: str
    """The credentials' env file, relative to the compose file (:func:`database.credentials`)."""
    image: str = database.DEFAULT_IMAGE


def _service(service: Service, host_ip: str, db: Database | None) -> dict[str, object]:
    document: dict[str, object] = {
        "image": service.image,
        "restart": "unless-stopped",
        "ports": [f"{host_ip}:{service.host_port}:{dockerfile.PORT}"],
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108 - a private tmpfs, the only writable path
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        # Longer than the server's own graceful timeout, so in-flight requests finish.
        "stop_grace_period": "30s",
        "healthcheck": {
            "test": ["CMD", *dockerfile.healthcheck_command(service.python)],
            "interval": dockerfile.HEALTHCHECK_INTERVAL,
            "timeout": dockerfile.HEALTHCHECK_TIMEOUT,
            "retries": dockerfile.HEALTHCHECK_RETRIES,
            "start_period": dockerfile.HEALTHCHECK_START_PERIOD,
        },
        "labels": {"io.dockyard.model": service.name},
    }
    if db is not None:
        # DOCKYARD_PREDICTION_LOG, with the password, comes from the env file.
        document["env_file"] = [db.env_file]
        document["depends_on"] = {database.SERVICE: {"condition": "service_healthy"}}
    return document


def _database(db: Database) -> dict[str, object]:
    return {
        "image": db.image,
        "restart": "unless-stopped",
        "env_file": [db.env_file],
        "environment": database.environment(),
        "volumes": [f"{database.VOLUME}:{database.DATA}"],
        # Not published: only the models reach it, on the compose network.
        "security_opt": ["no-new-privileges:true"],
        # PostgreSQL's fast shutdown (SIGINT in the official image) writes a checkpoint.
        "stop_grace_period": "30s",
        "healthcheck": database.healthcheck(),
        "labels": {"io.dockyard.database": "postgres"},
    }


def render(
    services: Sequence[Service], *, host_ip: str = "127.0.0.1", db: Database | None = None
) -> str:
    ports = [s.host_port for s in services]
    if len(set(ports)) != len(ports):
        raise ValueError("two services publish the same host port")
    if db is not None and database.SERVICE in {s.name for s in services}:
        raise UsageError(
            f"A model is named {database.SERVICE!r}, the name of the database service: "
            "save the model under another name (name=...) or leave out --database."
        )
    models = {s.name: _service(s, host_ip, db) for s in services}
    document: dict[str, object] = {"version": COMPOSE_FORMAT}
    header = (
        "# Written by 'dockyard compose'. Start: docker-compose up -d   Stop: docker-compose down\n"
    )
    if db is None:
        document["services"] = models
    else:
        document["services"] = {database.SERVICE: _database(db), **models}
        document["volumes"] = {database.VOLUME: {}}
        header += (
            f"# The database's data is on the volume {database.VOLUME!r}: 'down' keeps it, "
            "'down -v' deletes it.\n"
            f"# Its password is in {db.env_file} (keep it with the volume).\n"
        )
    return header + yamlwriter.dump(document)

"""``compose.yaml`` for several models: one service each, hardened, health-checked, restarted.

Written in compose file format 3.8, which both Debian's docker-compose 1.29 and Compose v2
read (v2 ignores the version key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.packaging import dockerfile, yamlwriter

COMPOSE_FORMAT = "3.8"


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    image: str
    host_port: int
    python: str
    """``major.minor`` of the image's Python: it locates the healthcheck script."""


def _service(service: Service, host_ip: str) -> dict[str, object]:
    return {
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


def render(services: Sequence[Service], *, host_ip: str = "127.0.0.1") -> str:
    ports = [s.host_port for s in services]
    if len(set(ports)) != len(ports):
        raise ValueError("two services publish the same host port")
    document = {
        "version": COMPOSE_FORMAT,
        "services": {s.name: _service(s, host_ip) for s in services},
    }
    header = (
        "# Written by 'dockyard compose'. Start: docker-compose up -d   Stop: docker-compose down\n"
    )
    return header + yamlwriter.dump(document)

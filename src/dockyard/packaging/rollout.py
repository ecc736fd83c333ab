"""Deploy a stack to Docker Swarm and follow each service's rollout to its end.

``docker stack deploy`` creates or updates the services from :func:`swarm.stack`'s
document (the same one ``dockyard stack`` writes) and returns at once; Swarm then rolls
each changed service one task at a time. :func:`follow` watches a service through the
Engine API until every replica runs the requested image, or until Swarm has rolled it
back, and says which: the failed tasks' errors (an unhealthy container, an exit code)
and the version that is serving instead.

Deploying goes through the ``docker`` command, not the Engine API, because stack files
are a client-side format: the CLI is the one implementation of how they map to services.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dockyard.errors import DockerError, UsageError
from dockyard.packaging import database, yamlwriter

Progress = Callable[[str], None]
_FAILED_STATES = frozenset({"failed", "rejected"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one service's rollout ended."""

    service: str
    requested: str
    """The version that was deployed."""
    serving: str
    """The version the service runs now (the previous one after a rollback)."""
    running: int
    replicas: int
    rolled_back: bool
    failures: tuple[str, ...] = ()
    """Why tasks of the requested version failed, one line each."""

    def describe(self) -> str:
        if not self.rolled_back:
            return f"{self.service}: {self.running}/{self.replicas} replicas on {self.serving}"
        why = "; ".join(self.failures) or "a task failed during the update"
        return (
            f"{self.service}: {self.requested} failed ({why}); Swarm rolled back and "
            f"{self.serving} is serving ({self.running}/{self.replicas} replicas)"
        )


def stack_deploy(
    document: dict[str, object],
    stack_name: str,
    *,
    resolve_image: Literal["always", "changed", "never"] = "always",
) -> None:
    """``docker stack deploy`` of ``document``, which creates or updates its services."""
    docker = shutil.which("docker")
    if docker is None:
        raise DockerError(
            "dockyard deploy needs the docker command-line client (docker stack deploy).",
            hint="Install it (Debian: apt-get install docker.io; elsewhere docker-ce-cli).",
        )
    command = [docker, "stack", "deploy", "--detach=true", "--resolve-image", resolve_image]
    done = subprocess.run(
        [*command, "--compose-file", "-", stack_name],
        input=yamlwriter.dump(document),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        hint = "Run 'docker swarm init' on a manager first." if "swarm" in done.stderr else None
        raise DockerError(
            f"docker stack deploy failed: {said[-1] if said else f'exit {done.returncode}'}",
            hint=hint,
        )


def require_database_node(client: Any) -> None:
    """Refuse a stack with a database when no node is labelled to hold it (and its volume):
    Swarm would keep its task pending, and the models would log to nothing."""
    import docker

    label = f"{database.NODE_LABEL}=true"
    try:
        nodes = client.nodes.list(filters={"node.label": label})
    except docker.errors.APIError as exc:
        raise DockerError(
            f"Cannot list this swarm's nodes: {exc.explanation or exc}.",
            hint="Deploy from a manager of a swarm ('docker swarm init' makes this engine one).",
        ) from None
    if not nodes:
        raise UsageError(
            f"No node of this swarm is labelled {label}, so the database has nowhere to run.",
            hint=f"Pin it, and its volume, to one node first: docker node update "
            f"--label-add {label} NODE",
        )


def require_password_file(client: Any, stack_name: str, password_file: Path) -> None:
    """Refuse to make a new password for a stack whose database already has one: Swarm
    does not change a secret in place, and a database keeps the password it first had."""
    if password_file.exists():
        return
    secret = f"{stack_name}_{database.SECRET}"
    if client.secrets.list(filters={"name": secret}):
        raise UsageError(
            f"Stack {stack_name} already has a database password (the secret {secret}), "
            f"and {password_file} does not exist to give it again.",
            hint="Deploy from the directory that holds it, or pass it with --password-file.",
        )


def _image(reference: str) -> str:
    return reference.split("@", 1)[0]  # the CLI pins images to a digest where it can


def _version(service: dict[str, Any]) -> str:
    labels = service["Spec"].get("Labels") or {}
    return str(labels.get("io.dockyard.version") or _image(_spec_image(service)))


def _spec_image(service: dict[str, Any]) -> str:
    return str(service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"])


def _task_image(task: dict[str, Any]) -> str:
    return _image(str(task["Spec"]["ContainerSpec"]["Image"]))


def _why(client: Any, task: dict[str, Any]) -> str | None:
    """Why a task of the new version stopped: its failed health check (as the container's
    health log has it, where the container is on this engine), or Swarm's error."""
    import docker

    status = task["Status"]
    container = (status.get("ContainerStatus") or {}).get("ContainerID")
    if container:
        try:
            health = client.api.inspect_container(container)["State"].get("Health") or {}
        except docker.errors.DockerException:
            health = {}  # on another node, or already removed: Swarm's words below
        if health.get("Status") == "unhealthy":
            log = health.get("Log") or [{}]
            said = str(log[-1].get("Output") or "").strip().splitlines()
            last = said[-1] if said else f"exit {log[-1].get('ExitCode')}"
            return f"unhealthy: its health check failed {health.get('FailingStreak', '')} times, last: {last}"
    if status["State"] in _FAILED_STATES or status.get("Err"):
        return str(status.get("Err") or status.get("Message") or status["State"])
    return None


def follow(
    client: Any,
    service_name: str,
    *,
    image: str,
    version: str,
    timeout: float = 600,
    progress: Progress | None = None,
    poll: float = 1.0,
) -> Outcome:
    """Wait until ``service_name`` runs ``image`` on every replica, or was rolled back."""
    import docker

    deadline = time.monotonic() + timeout
    api = client.api
    said = ""
    while True:
        try:
            service = api.inspect_service(service_name)
        except docker.errors.DockerException as exc:
            raise DockerError(f"Cannot inspect service {service_name}: {exc}") from None
        replicas = int(service["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 1))
        state = (service.get("UpdateStatus") or {}).get("State")
        tasks = api.tasks(filters={"service": service_name})
        running = [
            t for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
        ]
        current = [t for t in running if _task_image(t) == _image(image)]
        rolled_back = _image(_spec_image(service)) != _image(image)
        line = f"{service_name}: {len(current)}/{replicas} on {version}"
        if state:
            line += f" (update {state.replace('_', ' ')})"
        if progress is not None and line != said:
            progress(line)
            said = line
        settled = state not in ("updating", "rollback_started")
        if rolled_back and settled:
            tried = [t for t in tasks if _task_image(t) == _image(image)]
            failures = tuple(dict.fromkeys(w for t in tried if (w := _why(client, t))))
            return Outcome(
                service_name,
                version,
                _version(service),
                len(running),
                replicas,
                rolled_back=True,
                failures=failures,
            )
        if settled and len(current) == replicas == len(running):
            return Outcome(service_name, version, version, len(current), replicas, False)
        if state in ("paused", "rollback_paused"):
            message = (service.get("UpdateStatus") or {}).get("Message", "")
            raise DockerError(
                f"The update of {service_name} is {state.replace('_', ' ')}: {message}",
                hint=f"Inspect it with: docker service ps --no-trunc {service_name}",
            )
        if time.monotonic() > deadline:
            raise DockerError(
                f"{service_name} did not converge within {timeout:g} s: {line}.",
                hint=f"Inspect it with: docker service ps --no-trunc {service_name}",
            )
        time.sleep(poll)


__all__ = [
    "Outcome",
    "Progress",
    "follow",
    "require_database_node",
    "require_password_file",
    "stack_deploy",
]

"""``dockyard stack`` and ``dockyard deploy --to swarm``: models as replicated Swarm
services, updated one task at a time and rolled back when a new version fails."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from dockyard.cli.console import err, out
from dockyard.errors import DockerError, UsageError
from dockyard.packaging.database import DEFAULT_IMAGE as DEFAULT_POSTGRES_IMAGE
from dockyard.packaging.database import DatabaseKind

if TYPE_CHECKING:
    from dockyard.packaging.database import Credentials
    from dockyard.packaging.swarm import StackDatabase

EndpointMode = Literal["vip", "dnsrr"]

# The options both commands take, declared once.
_REPLICAS = typer.Option(2, min=1, help="Replicas per model.")
_ENDPOINT_MODE = typer.Option(
    "vip", help="vip (virtual IP and ingress mesh) or dnsrr (every task's IP from DNS)."
)
_PORT = typer.Option(None, help="Publish the first service on this port, the next on port+1, …")
_API_KEY_SECRET = typer.Option(
    None, help="Name of the Swarm secret holding the API key (never in the file)."
)
_HEALTH_START = typer.Option(30.0, help="Seconds a new task may take to start.")
_HEALTH_INTERVAL = typer.Option(5.0, help="Seconds between health checks.")
_CPU_LIMIT = typer.Option(1.0, help="CPUs per replica (limit).")
_MEMORY_LIMIT = typer.Option("1G", help="Memory per replica (limit).")
_BASE_IMAGE = typer.Option(None, help="Base image (see 'dockyard build').")
_WHEELHOUSE = typer.Option(None, help="Wheelhouse for offline builds; implies --offline.")
_OFFLINE = typer.Option(False, "--offline", help="Builds need no network.")
_POSTGRES_IMAGE = typer.Option(
    None,
    help=f"PostgreSQL image for --database postgres [default: {DEFAULT_POSTGRES_IMAGE}].",
    show_default=False,
)


@dataclass(frozen=True, slots=True)
class _Shape:
    """How every model's service is shaped, from the shared options."""

    replicas: int
    port: int | None
    api_key_secret: str | None
    health_start_period: float
    health_interval: float
    cpu_limit: float
    memory_limit: str

    def services(self, models: list[tuple[str, str, str]]) -> list[Any]:
        from dockyard.packaging.swarm import Health, ModelService, Resources

        return [
            ModelService(
                name,
                image,
                version,
                replicas=self.replicas,
                resources=Resources(cpu_limit=self.cpu_limit, memory_limit=self.memory_limit),
                health=Health(interval=self.health_interval, start_period=self.health_start_period),
                publish=None if self.port is None else self.port + index,
                api_key_secret=self.api_key_secret,
            )
            for index, (name, version, image) in enumerate(models)
        ]


def _built(
    bundles: list[Path],
    *,
    build: bool,
    base_image: str | None,
    offline: bool,
    wheelhouse: Path | None,
) -> list[tuple[str, str, str]]:
    """(model name, version, image) per bundle, building each image first if asked."""
    from dockyard.packaging.images import image_per_bundle

    models = []
    for meta, tag, built in image_per_bundle(
        bundles, build=build, console=err, base_image=base_image, offline=offline, wheels=wheelhouse
    ):
        if built is not None:
            err.print(f"Built {built.describe()}")
        models.append((meta.name, meta.version, tag))
    return models


def stack(
    bundles: list[Path] = typer.Argument(
        ..., help="Bundles, one service each.", show_default=False
    ),
    output: Path = typer.Option(Path("stack.yaml"), "--output", "-o", help="Stack file."),
    replicas: int = _REPLICAS,
    endpoint_mode: str = _ENDPOINT_MODE,
    port: int | None = _PORT,
    api_key_secret: str | None = _API_KEY_SECRET,
    health_start_period: float = _HEALTH_START,
    health_interval: float = _HEALTH_INTERVAL,
    cpu_limit: float = _CPU_LIMIT,
    memory_limit: str = _MEMORY_LIMIT,
    build: bool = typer.Option(
        True, "--build/--no-build", help="Build each image first (else: reference NAME:VERSION)."
    ),
    base_image: str | None = _BASE_IMAGE,
    wheelhouse: Path | None = _WHEELHOUSE,
    offline: bool = _OFFLINE,
    database: DatabaseKind | None = typer.Option(
        None,
        "--database",
        help="Add a database the models log their predictions to (its password "
        "is a secret made from a file beside the stack file).",
        show_default=False,
    ),
    postgres_image: str | None = _POSTGRES_IMAGE,
) -> None:
    """Write a Swarm stack: replicated, hardened services with rolling updates and rollback."""
    from dockyard.packaging import database as db
    from dockyard.packaging.swarm import DATABASE_NODE_LABEL, StackDatabase, render

    mode = _endpoint_mode(endpoint_mode)
    credentials = None
    stack_database = None
    if db.requested(database, postgres_image):
        # Before the builds: a damaged password file should stop the command at once.
        credentials = db.password_file(db.password_file_for(output))
        stack_database = StackDatabase(
            credentials.path.name,
            db.pgpass_file_for(credentials.path).name,
            postgres_image or DEFAULT_POSTGRES_IMAGE,
        )
    models = _built(
        bundles, build=build, base_image=base_image, offline=offline, wheelhouse=wheelhouse
    )
    shape = _Shape(
        replicas,
        port,
        api_key_secret,
        health_start_period,
        health_interval,
        cpu_limit,
        memory_limit,
    )
    services = shape.services(models)
    output.write_text(render(services, endpoint_mode=mode, db=stack_database), encoding="utf-8")
    out.print(f"Wrote {output}: {', '.join(f'{s.name} x{s.replicas}' for s in services)}")
    if credentials is not None:
        out.print(
            f"{_password_said(credentials)} Pin the database to a node first:\n"
            f"  docker node update --label-add {DATABASE_NODE_LABEL}=true NODE"
        )
    out.print(f"  deploy: docker stack deploy -c {output} dockyard")


def deploy(
    bundles: list[Path] = typer.Argument(
        None, help="Bundles to build and deploy (or use --image).", show_default=False
    ),
    to: str = typer.Option(..., "--to", help="Orchestrator: swarm."),
    image: str | None = typer.Option(
        None, help="Deploy this image, already built, instead of building bundles."
    ),
    name: str | None = typer.Option(None, help="The model's name, with --image."),
    replicas: int = _REPLICAS,
    stack_name: str = typer.Option("dockyard", "--stack", help="Swarm stack name."),
    endpoint_mode: str = _ENDPOINT_MODE,
    port: int | None = _PORT,
    api_key_secret: str | None = _API_KEY_SECRET,
    health_start_period: float = _HEALTH_START,
    health_interval: float = _HEALTH_INTERVAL,
    cpu_limit: float = _CPU_LIMIT,
    memory_limit: str = _MEMORY_LIMIT,
    resolve_image: str = typer.Option(
        "always", help="always (pin each image's registry digest), changed or never."
    ),
    timeout: float = typer.Option(600.0, help="Seconds to wait for every rollout."),
    base_image: str | None = _BASE_IMAGE,
    wheelhouse: Path | None = _WHEELHOUSE,
    offline: bool = _OFFLINE,
    database: DatabaseKind | None = typer.Option(
        None,
        "--database",
        help="Run a database beside the models and log their predictions to it (its "
        "password is a secret made from --password-file).",
        show_default=False,
    ),
    postgres_image: str | None = _POSTGRES_IMAGE,
    password_file: Path | None = typer.Option(
        None,
        help="The database's password file, made when missing and kept [default: "
        "STACK.postgres.password in this directory].",
        show_default=False,
    ),
) -> None:
    """Create or update Swarm services and wait until every replica runs the new version."""
    from dockyard.packaging import database as db
    from dockyard.packaging import engine, rollout
    from dockyard.packaging.swarm import stack as stack_document

    if to != "swarm":
        raise UsageError(f"Unknown orchestrator {to!r}.", hint="Use --to swarm.")
    if resolve_image not in ("always", "changed", "never"):
        raise UsageError("--resolve-image takes always, changed or never.")
    mode = _endpoint_mode(endpoint_mode)
    with_database = db.requested(database, postgres_image)
    if password_file is not None and not with_database:
        raise UsageError("--password-file goes with --database postgres.")
    if image is not None and (bundles or not name):
        raise UsageError("--image deploys one image: give --name MODEL and no bundles.")
    if image is None and not bundles:
        raise UsageError("Nothing to deploy.", hint="Pass bundles, or --image IMAGE --name MODEL.")
    client = engine.connect()
    # An image is checked before anything is written; bundles are built after the checks.
    models = (
        [(name, _image_version(client, image, name), image)] if image is not None and name else []
    )
    stack_database, credentials = (
        _database_for(client, stack_name, password_file, postgres_image)
        if with_database
        else (None, None)
    )
    if image is None:
        models = _built(
            bundles, build=True, base_image=base_image, offline=offline, wheelhouse=wheelhouse
        )
    shape = _Shape(
        replicas,
        port,
        api_key_secret,
        health_start_period,
        health_interval,
        cpu_limit,
        memory_limit,
    )
    services = shape.services(models)
    if credentials is not None:
        out.print(_password_said(credentials))
    with err.status(f"Deploying to stack {stack_name}…"):
        rollout.stack_deploy(
            stack_document(services, endpoint_mode=mode, db=stack_database),
            stack_name,
            resolve_image=resolve_image,  # type: ignore[arg-type]
        )
    # The database first: the models log to it (and wait for it without failing).
    rollouts = [(s.name, s.image, s.version) for s in services]
    if stack_database is not None:
        rollouts.insert(0, (db.SERVICE, stack_database.image, stack_database.image))
    _follow(client, stack_name, rollouts, timeout)


def _database_for(
    client: Any, stack_name: str, password_file: Path | None, postgres_image: str | None
) -> tuple[StackDatabase, Credentials]:
    """The stack's database and its password file's credentials,
    made when missing: checked first against the swarm, before anything is written."""
    from dockyard.packaging import database as db
    from dockyard.packaging import rollout
    from dockyard.packaging.swarm import StackDatabase

    rollout.require_database_node(client)
    wanted = password_file or db.password_file_for(Path.cwd() / f"{stack_name}.yaml")
    rollout.require_password_file(client, stack_name, wanted)
    # The stack goes to 'docker stack deploy' on its standard input: the secrets' files are
    # named by absolute paths. Kept between deploys, as the database's data is.
    credentials = db.password_file(wanted.absolute())
    stack_database = StackDatabase(
        str(credentials.path),
        str(db.pgpass_file_for(credentials.path)),
        postgres_image or DEFAULT_POSTGRES_IMAGE,
    )
    return stack_database, credentials


def _follow(
    client: Any, stack_name: str, rollouts: list[tuple[str, str, str]], timeout: float
) -> None:
    """Follow each (service, image, version) rollout of the stack to its end; fail when any
    was rolled back."""
    from dockyard.packaging import rollout

    failed = []
    for service, image, version in rollouts:
        with err.status(f"Rolling out {service} {version}…") as status:
            outcome = rollout.follow(
                client,
                f"{stack_name}_{service}",
                image=image,
                version=version,
                timeout=timeout,
                progress=status.update,
            )
        (err if outcome.rolled_back else out).print(outcome.describe(), markup=False)
        if outcome.rolled_back:
            failed.append(outcome)
    if failed:
        raise DockerError(
            f"{len(failed)} of {len(rollouts)} rollouts failed and were rolled back: "
            + "; ".join(f"{o.service} serves {o.serving}" for o in failed)
            + ".",
            hint="See why with: docker service ps --no-trunc SERVICE",
        )


def _password_said(credentials: Credentials) -> str:
    from dockyard.packaging import database as db

    action = "Wrote" if credentials.created else "Kept"
    return (
        f"{action} {credentials.path} (mode 0600): the database password, and its libpq twin "
        f"{db.pgpass_file_for(credentials.path).name}; keep them with the database's volume."
    )


def _endpoint_mode(value: str) -> EndpointMode:
    if value == "vip":
        return "vip"
    if value == "dnsrr":
        return "dnsrr"
    raise UsageError(f"Unknown endpoint mode {value!r}.", hint="Use vip or dnsrr.")


def _image_version(client: Any, image: str, name: str) -> str:
    from dockyard.packaging.registry import identity

    versions = identity(client, image).versions
    if name not in versions:
        raise UsageError(
            f"Image {image} does not serve a model named {name!r}; it serves "
            f"{', '.join(sorted(versions))}.",
            hint="Pass one of those names with --name.",
        )
    return versions[name]


def register(app: typer.Typer) -> None:
    app.command()(stack)
    app.command()(deploy)

"""``dockyard stack`` and ``dockyard deploy --to swarm``: models as replicated Swarm
services, updated one task at a time and rolled back when a new version fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import typer

from dockyard.cli.console import err, out
from dockyard.errors import DockerError, UsageError

EndpointMode = Literal["vip", "dnsrr"]
_ENDPOINT_HELP = "vip (virtual IP and ingress mesh) or dnsrr (every task's IP from DNS)."


def _built(
    bundles: list[Path],
    *,
    build: bool,
    base_image: str | None,
    offline: bool,
    wheelhouse: Path | None,
) -> list[tuple[str, str, str]]:
    """(model name, version, image) per bundle, building each image first if asked."""
    from dockyard.bundle import read_metadata

    client = None
    if build:
        from dockyard.packaging import engine
        from dockyard.packaging.images import build_image

        client = engine.connect()
    models = []
    for bundle in bundles:
        meta = read_metadata(bundle, verify=not build)
        tag = f"{meta.name}:{meta.version}"
        if build:
            built = build_image(
                [bundle],
                console=err,
                tag=tag,
                base_image=base_image,
                offline=offline or wheelhouse is not None,
                wheels=wheelhouse,
                client=client,
            )
            err.print(f"Built {built.describe()}")
        models.append((meta.name, meta.version, tag))
    return models


def _services(
    models: list[tuple[str, str, str]],
    *,
    replicas: int,
    port: int | None,
    api_key_secret: str | None,
    health_start_period: float,
    health_interval: float,
    cpu_limit: float,
    memory_limit: str,
) -> list[Any]:
    from dockyard.packaging.swarm import Health, ModelService, Resources

    return [
        ModelService(
            name,
            image,
            version,
            replicas=replicas,
            resources=Resources(cpu_limit=cpu_limit, memory_limit=memory_limit),
            health=Health(interval=health_interval, start_period=health_start_period),
            publish=None if port is None else port + index,
            api_key_secret=api_key_secret,
        )
        for index, (name, version, image) in enumerate(models)
    ]


def stack(
    bundles: list[Path] = typer.Argument(
        ..., help="Bundles, one service each.", show_default=False
    ),
    output: Path = typer.Option(Path("stack.yaml"), "--output", "-o", help="Stack file."),
    replicas: int = typer.Option(2, min=1, help="Replicas per model."),
    endpoint_mode: str = typer.Option("vip", help=_ENDPOINT_HELP),
    port: int | None = typer.Option(
        None, help="Publish the first service on this port, the next on port+1, …"
    ),
    api_key_secret: str | None = typer.Option(
        None, help="Name of the Swarm secret holding the API key (never in the file)."
    ),
    health_start_period: float = typer.Option(30.0, help="Seconds a new task may take to start."),
    health_interval: float = typer.Option(5.0, help="Seconds between health checks."),
    cpu_limit: float = typer.Option(1.0, help="CPUs per replica (limit)."),
    memory_limit: str = typer.Option("1G", help="Memory per replica (limit)."),
    build: bool = typer.Option(
        True, "--build/--no-build", help="Build each image first (else: reference NAME:VERSION)."
    ),
    base_image: str | None = typer.Option(None, help="Base image (see 'dockyard build')."),
    wheelhouse: Path | None = typer.Option(
        None, help="Wheelhouse for offline builds; implies --offline."
    ),
    offline: bool = typer.Option(False, "--offline", help="Builds need no network."),
) -> None:
    """Write a Swarm stack: replicated, hardened services with rolling updates and rollback."""
    from dockyard.packaging.swarm import render

    mode = _endpoint_mode(endpoint_mode)
    models = _built(
        bundles, build=build, base_image=base_image, offline=offline, wheelhouse=wheelhouse
    )
    services = _services(
        models,
        replicas=replicas,
        port=port,
        api_key_secret=api_key_secret,
        health_start_period=health_start_period,
        health_interval=health_interval,
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
    )
    output.write_text(render(services, endpoint_mode=mode), encoding="utf-8")
    out.print(f"Wrote {output}: {', '.join(f'{s.name} x{s.replicas}' for s in services)}")
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
    replicas: int = typer.Option(2, min=1, help="Replicas per model."),
    stack_name: str = typer.Option("dockyard", "--stack", help="Swarm stack name."),
    endpoint_mode: str = typer.Option("vip", help=_ENDPOINT_HELP),
    port: int | None = typer.Option(
        None, help="Publish the first service on this port, the next on port+1, …"
    ),
    api_key_secret: str | None = typer.Option(
        None, help="Name of the Swarm secret holding the API key."
    ),
    health_start_period: float = typer.Option(30.0, help="Seconds a new task may take to start."),
    health_interval: float = typer.Option(5.0, help="Seconds between health checks."),
    cpu_limit: float = typer.Option(1.0, help="CPUs per replica (limit)."),
    memory_limit: str = typer.Option("1G", help="Memory per replica (limit)."),
    resolve_image: str = typer.Option(
        "always", help="always (pin each image's registry digest), changed or never."
    ),
    timeout: float = typer.Option(600.0, help="Seconds to wait for every rollout."),
    base_image: str | None = typer.Option(None, help="Base image (see 'dockyard build')."),
    wheelhouse: Path | None = typer.Option(
        None, help="Wheelhouse for offline builds; implies --offline."
    ),
    offline: bool = typer.Option(False, "--offline", help="Builds need no network."),
) -> None:
    """Create or update Swarm services and wait until every replica runs the new version."""
    from dockyard.packaging import engine, rollout
    from dockyard.packaging.swarm import stack as stack_document

    if to != "swarm":
        raise UsageError(f"Unknown orchestrator {to!r}.", hint="Use --to swarm.")
    if resolve_image not in ("always", "changed", "never"):
        raise UsageError("--resolve-image takes always, changed or never.")
    mode = _endpoint_mode(endpoint_mode)
    client = engine.connect()
    if image is not None:
        if bundles or not name:
            raise UsageError("--image deploys one image: give --name MODEL and no bundles.")
        models = [(name, _image_version(client, image, name), image)]
    elif bundles:
        models = _built(
            bundles, build=True, base_image=base_image, offline=offline, wheelhouse=wheelhouse
        )
    else:
        raise UsageError("Nothing to deploy.", hint="Pass bundles, or --image IMAGE --name MODEL.")
    services = _services(
        models,
        replicas=replicas,
        port=port,
        api_key_secret=api_key_secret,
        health_start_period=health_start_period,
        health_interval=health_interval,
        cpu_limit=cpu_limit,
        memory_limit=memory_limit,
    )
    with err.status(f"Deploying to stack {stack_name}…"):
        rollout.stack_deploy(
            stack_document(services, endpoint_mode=mode),
            stack_name,
            resolve_image=resolve_image,  # type: ignore[arg-type]
        )
    failed = []
    for service in services:
        with err.status(f"Rolling out {service.name} {service.version}…") as status:
            outcome = rollout.follow(
                client,
                f"{stack_name}_{service.name}",
                image=service.image,
                version=service.version,
                timeout=timeout,
                progress=status.update,
            )
        (err if outcome.rolled_back else out).print(outcome.describe(), markup=False)
        if outcome.rolled_back:
            failed.append(outcome)
    if failed:
        raise DockerError(
            f"{len(failed)} of {len(services)} rollouts failed and were rolled back: "
            + "; ".join(f"{o.service} serves {o.serving}" for o in failed)
            + ".",
            hint="See why with: docker service ps --no-trunc SERVICE",
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

"""``dockyard compose``: several bundles → one image each and a compose.yaml to run them all."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out


def compose(
    bundles: list[Path] = typer.Argument(
        ..., help="Bundles, one service each.", show_default=False
    ),
    output: Path = typer.Option(
        Path("compose.yaml"), "--output", "-o", help="Compose file to write."
    ),
    port: int = typer.Option(8000, help="Host port of the first service; the next get port+1, …"),
    host: str = typer.Option(
        "127.0.0.1", help="Host interface to publish on (0.0.0.0: every interface)."
    ),
    build: bool = typer.Option(
        True, "--build/--no-build", help="Build each image first (else: reference NAME:VERSION)."
    ),
    base_image: str | None = typer.Option(None, help="Base image (see 'dockyard build')."),
    wheelhouse: Path | None = typer.Option(
        None, help="Wheelhouse for offline builds; implies --offline."
    ),
    offline: bool = typer.Option(False, "--offline", help="Builds need no network."),
) -> None:
    """Write a compose file with one health-checked, restarting service per model."""
    from dockyard.packaging.compose import Service, render
    from dockyard.packaging.images import image_per_bundle
    from dockyard.packaging.lock import Target

    services = []
    for index, (meta, tag, built) in enumerate(
        image_per_bundle(
            bundles,
            build=build,
            console=err,
            base_image=base_image,
            offline=offline,
            wheels=wheelhouse,
        )
    ):
        if built is not None:
            err.print(f"Built {built.describe()}")
        python = Target.for_python(meta.environment.python).python
        services.append(Service(meta.name, tag, port + index, python))
    output.write_text(render(services, host_ip=host), encoding="utf-8")
    out.print(f"Wrote {output}: {', '.join(f'{s.name} on {host}:{s.host_port}' for s in services)}")
    out.print(f"  start: docker-compose -f {output} up -d")


def register(app: typer.Typer) -> None:
    app.command()(compose)

"""``dockyard compose``: several bundles → one image each and a compose.yaml to run them all."""

from __future__ import annotations

from pathlib import Path

import typer

from dockyard.cli.console import err, out
from dockyard.packaging.database import DEFAULT_IMAGE as DEFAULT_POSTGRES_IMAGE
from dockyard.packaging.database import DatabaseKind


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
    database: DatabaseKind | None = typer.Option(
        None,
        "--database",
        help="Add a database the models log their predictions to (a named volume keeps "
        "its data; the password goes to an env file beside the compose file).",
        show_default=False,
    ),
    postgres_image: str | None = typer.Option(
        None,
        help=f"PostgreSQL image for --database postgres [default: {DEFAULT_POSTGRES_IMAGE}].",
        show_default=False,
    ),
) -> None:
    """Write a compose file with one health-checked, restarting service per model."""
    from dockyard.packaging import database as db
    from dockyard.packaging.compose import Database as ComposeDatabase
    from dockyard.packaging.compose import Service, render
    from dockyard.packaging.images import image_per_bundle
    from dockyard.packaging.lock import Target

    database_service = None
    credentials = None
    if db.requested(database, postgres_image):
        # Before the builds: a damaged env file should stop the command at once.
        credentials = db.credentials(db.env_file_for(output))
        database_service = ComposeDatabase(
            credentials.path.name, postgres_image or DEFAULT_POSTGRES_IMAGE
        )
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
    output.write_text(render(services, host_ip=host, db=database_service), encoding="utf-8")
    out.print(f"Wrote {output}: {', '.join(f'{s.name} on {host}:{s.host_port}' for s in services)}")
    if credentials is not None:
        action = "Wrote" if credentials.created else "Kept"
        out.print(
            f"{action} {credentials.path} (mode 0600): the database password; keep it with "
            f"the volume {db.VOLUME!r}."
        )
    out.print(f"  start: docker-compose -f {output} up -d")


def register(app: typer.Typer) -> None:
    app.command()(compose)

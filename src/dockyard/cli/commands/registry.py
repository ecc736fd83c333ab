"""``dockyard push`` / ``pull`` / ``verify``: share model images through a registry."""

from __future__ import annotations

from typing import Any

import typer

from dockyard.cli.console import err, out


def _verify(client: Any, image: str) -> None:
    from dockyard.packaging.verification import verify_image

    with err.status(f"Verifying the bundles inside {image} (no network)…"):
        checks = verify_image(client, image)
    for check in checks:
        out.print(
            f"Verified {check.name} {check.version}: bundle sha256 {check.sha256} and its "
            f"{check.files} files match the image's labels"
        )
        if check.golden:
            out.print(f"  golden answers: {check.golden}")


def push(
    image: str = typer.Argument(..., help="Image built by 'dockyard build'.", show_default=False),
    registry: str = typer.Option(
        ..., "--registry", "-r", help="Registry as HOST:PORT[/PATH].", show_default=False
    ),
) -> None:
    """Push an image as REGISTRY/NAME:VERSION and REGISTRY/NAME:sha256-BUNDLE_SHA256.

    Credentials are the ones 'docker login' stored; Dockyard never reads or prints them.
    """
    from dockyard.packaging import engine
    from dockyard.packaging import registry as registries

    client = engine.connect()
    pushed = registries.push(client, image, registry, console=err)
    out.print(f"Pushed {image}:")
    for reference in pushed.references:
        out.print(f"  {reference}")
    out.print(f"  digest {pushed.digest}")
    out.print(f"Pull it with: dockyard pull {pushed.references[0]}")
    out.print(f"  or exactly these bytes: dockyard pull {pushed.pinned}")


def pull(
    reference: str = typer.Argument(
        ..., help="REGISTRY/NAME:TAG or REGISTRY/NAME@sha256:DIGEST.", show_default=False
    ),
    verify: bool = typer.Option(
        True, "--verify/--no-verify", help="Check the bundles against the image's labels."
    ),
) -> None:
    """Pull a model image, then verify its bundles against its labels."""
    from dockyard.packaging import engine
    from dockyard.packaging import registry as registries

    client = engine.connect()
    pulled = registries.pull(client, reference, console=err)
    out.print(f"Pulled {pulled.reference}: image {pulled.image_id}, digest {pulled.digest or '-'}")
    if verify:
        _verify(client, reference)
    out.print(f"  run it: dockyard run {reference}")


def verify(
    image: str = typer.Argument(..., help="Image to check.", show_default=False),
) -> None:
    """Check, inside the image and with no network, that its bundles match its labels."""
    from dockyard.packaging import engine

    _verify(engine.connect(), image)


def register(app: typer.Typer) -> None:
    app.command()(push)
    app.command()(pull)
    app.command()(verify)

"""Entry point: parse arguments, run one command, map errors to a message and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from dockyard.__about__ import __version__
from dockyard.cli.commands import (
    build,
    compose,
    import_model,
    inspect,
    k8s,
    predict,
    registry,
    run,
    serve,
    share,
    train,
)
from dockyard.cli.console import err
from dockyard.errors import DockyardError

app = typer.Typer(
    name="dockyard",
    help="Take a scikit-learn model from training to a container that runs the same anywhere.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dockyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Dockyard: train, serve, package and ship scikit-learn models."""


# Order here is the order in --help: the model's life from training to shipping.
for _module in (
    train,
    import_model,
    inspect,
    serve,
    predict,
    build,
    run,
    compose,
    share,
    registry,
    k8s,
):
    _module.register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 on success)."""
    try:
        # Standalone mode: Typer prints usage errors and --help itself and exits through
        # SystemExit; our own errors propagate here to become one line on stderr.
        app(args=list(argv) if argv is not None else None, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DockyardError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("aborted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Entry point: parse arguments, run one command, map errors to a message and an exit code."""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import Any

import typer
import typer.main
from typer.core import TyperGroup

from dockyard.__about__ import __version__
from dockyard.errors import EXIT_CODES, DockyardError, ExitCode

# Each command's module under ``dockyard.cli.commands``, imported only when that command
# runs (or ``--help`` lists them all): ``dockyard serve`` then never imports what training,
# building or scoring files needs. Order here is the order in --help: the model's life from
# training to shipping.
COMMANDS: dict[str, str] = {
    "train": "train",
    "import": "import_model",
    "inspect": "inspect",
    "serve": "serve",
    "predict": "predict",
    "monitor": "monitor",
    "build": "build",
    "run": "run",
    "compose": "compose",
    "save": "share",
    "load": "share",
    "push": "registry",
    "pull": "registry",
    "verify": "registry",
    "k8s": "k8s",
    "stack": "swarm",
    "deploy": "swarm",
}


def commands_of(module: str) -> dict[str, Any]:
    """The click commands that ``dockyard.cli.commands.<module>`` registers, by name.

    Each module declares its commands with Typer; ``typer.main.get_command`` turns them into
    click commands (one command, or a group holding several).
    """
    holder = typer.Typer(
        add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=HELP_MARKUP
    )
    importlib.import_module(f"dockyard.cli.commands.{module}").register(holder)
    built = typer.main.get_command(holder)
    commands = dict(built.commands) if isinstance(built, TyperGroup) else {str(built.name): built}
    for command in commands.values():
        # The list in 'dockyard --help' shows this whole (wrapped) rather than cut to "...".
        command.short_help = command.short_help or (command.help or "").split("\n\n")[0]
    return commands


class LazyGroup(TyperGroup):
    """The root command: its subcommands are ``COMMANDS``, each module imported the first
    time one of its commands is looked up (Click's "Lazily Loading Subcommands" pattern, on
    Typer's click group). Commands and contexts are typed ``Any``: Typer 0.2x ships its own
    copy of click, whose classes live in a private module."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        # Names only, in the table's order: listing must not import every command module.
        return list(COMMANDS)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # Typer suggests close names from the commands it holds, which here are only those
        # loaded so far: suggest from the whole table instead.
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS and not ctx.resilient_parsing:
            matches = difflib.get_close_matches(name, list(COMMANDS))
            hint = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        if cmd_name not in self._loaded:
            self._loaded.update(commands_of(module))
        return self._loaded[cmd_name]


# Click's plain help, not Typer's rich panels: at 80 columns the panels cut long option
# names ("--allow-version-mis…") and drop their text, and read "[default: …]" in a help
# text as markup and erase it. Plain help wraps every description and shows it whole.
HELP_MARKUP: None = None

app = typer.Typer(
    name="dockyard",
    help="Take a scikit-learn model from training to a container that runs the same anywhere.",
    # "\b" keeps click from rewrapping the table into one paragraph.
    epilog="\b\nExit codes:\n"
    + "\n".join(f"  {int(code):<4} {meaning}" for code, meaning in EXIT_CODES.items()),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=HELP_MARKUP,
    cls=LazyGroup,
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 on success)."""
    try:
        # Standalone mode: Typer prints usage errors and --help itself and exits through
        # SystemExit; our own errors propagate here to become one line on stderr.
        app(args=list(argv) if argv is not None else None, standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DockyardError as exc:
        from rich.markup import escape

        _error(f"[bold red]error:[/] {escape(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        _error("aborted")
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def _error(markup: str) -> None:
    # Imported here: rich's console is not needed until there is something to print.
    from dockyard.cli.console import err

    err.print(markup, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())

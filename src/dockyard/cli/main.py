"""Entry point: parse arguments, run one command, map errors to a message and an exit code."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
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
    """The click commands that ``dockyard.cli.commands.<module>`` registers, by name."""
    holder = typer.Typer()
    importlib.import_module(f"dockyard.cli.commands.{module}").register(holder)
    built = (
        typer.main.get_command_from_info(
            info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=HELP_MARKUP
        )
        for info in holder.registered_commands
    )
    commands = {command.name: command for command in built if command.name}
    for command in commands.values():
        # The list in 'dockyard --help' shows this whole (wrapped) rather than cut to "...".
        command.short_help = command.short_help or (command.help or "").split("\n\n")[0]
    return commands


class _LazyCommands(MutableMapping[str, Any]):
    """``COMMANDS`` as click commands, each module imported on first lookup."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module = COMMANDS[name]  # KeyError for an unknown name, as a dict would
            self._loaded.update(commands_of(module))
        return self._loaded[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **self._loaded})

    def __len__(self) -> int:
        return len({**dict.fromkeys(COMMANDS), **self._loaded})


class _Group(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _LazyCommands()

    def list_commands(self, ctx: Any) -> list[str]:
        # Names only: listing must not import every command module.
        return list(self.commands)


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
    cls=_Group,
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

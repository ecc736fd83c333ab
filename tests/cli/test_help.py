"""What ``--help`` shows on an 80-column terminal, and the exit-code table."""

from __future__ import annotations

import re

import click
import pytest

from dockyard.cli.main import COMMANDS, commands_of, main
from dockyard.errors import EXIT_CODES, DockyardError, ExitCode


def _squashed(text: str) -> str:
    """``text`` without whitespace: wrapping moves line breaks, never characters."""
    return "".join(text.split())


def _default_shown(option: click.Option) -> str | None:
    """The default ``--help`` should show for ``option``, None where there is none to show."""
    default = option.default
    if option.show_default is False or option.required or default in (None, [], ()):
        return None
    if isinstance(default, bool):
        if not option.secondary_opts:
            return None  # a flag that is off: nothing to say
        return (option.opts if default else option.secondary_opts)[0].lstrip("-")
    return str(default)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_shows_every_option_whole_with_its_default_at_80_columns(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main([command, "--help"]) == 0
    shown = capsys.readouterr().out
    assert max(map(len, shown.splitlines())) <= 80
    squashed = _squashed(shown)
    for param in commands_of(COMMANDS[command])[command].params:
        described = getattr(param, "help", None)
        assert described, f"{command} {param.name}: no description"
        assert _squashed(described) in squashed, f"{command} {param.name}: description cut"
        if not isinstance(param, click.Option):
            continue
        for name in (*param.opts, *param.secondary_opts):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", shown), (
                f"{command}: {name} cut"
            )
        default = _default_shown(param)
        if default is not None:
            assert f"[default:{_squashed(default)}" in squashed, f"{command} {param.name}"


def test_options_that_name_their_default_in_words_show_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Defaults decided at run time are written into the help text: shown, not read as markup.
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["serve", "--help"]) == 0
    assert "Interface to bind [default: 127.0.0.1]." in capsys.readouterr().out
    assert main(["build", "--help"]) == 0
    assert "Image name [default: NAME:VERSION]." in capsys.readouterr().out


def test_root_help_lists_every_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert max(map(len, shown.splitlines())) <= 80
    for code, meaning in EXIT_CODES.items():
        assert re.search(rf"^\s+{int(code)}\s+{re.escape(meaning)}$", shown, re.M), code
    # And the command list gives each command's summary whole.
    for name, module in COMMANDS.items():
        summary = commands_of(module)[name].help.split("\n\n")[0]
        assert _squashed(summary) in _squashed(shown), name


def _subclasses(cls: type[DockyardError]) -> list[type[DockyardError]]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def test_the_exit_code_table_is_the_one_every_error_uses() -> None:
    import dockyard.packaging.verification  # noqa: F401 - defines an error of its own

    assert set(EXIT_CODES) == set(ExitCode)
    codes = {error.__name__: error.exit_code for error in _subclasses(DockyardError)}
    assert set(codes.values()) <= set(EXIT_CODES), codes
    assert codes["InvalidInput"] == codes["BadRequest"] == ExitCode.DATA
    assert codes["UsageError"] == ExitCode.USAGE

"""The application as a whole: one name per model, and no import cycle between server and web."""

from __future__ import annotations

import pytest

from dockyard.server.app import create_app
from dockyard.settings import Settings


def test_duplicate_model_names_are_refused(predictors: list) -> None:
    from dockyard.errors import UsageError

    with pytest.raises(UsageError, match="both named 'iris'"):
        create_app(Settings(), predictors=[predictors[0], predictors[0]])


def test_web_can_be_imported_before_the_server() -> None:
    # dockyard.web once imported the server (and the server the web): importing it first
    # failed on the cycle. tests/test_architecture.py now refuses any cycle.
    import subprocess
    import sys

    code = (
        "import dockyard.web, dockyard.server.app; print(dockyard.server.app.create_app.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "create_app"

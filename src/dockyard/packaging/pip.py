"""pip, run by the interpreter Dockyard runs in: it resolves locks and downloads and builds
wheels for images (see :mod:`dockyard.packaging.lock` and :mod:`dockyard.packaging.wheelhouse`).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from dockyard.errors import PackagingError


def run_pip(args: Sequence[str], *, what: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pip ARGS``; a failure raises a :class:`PackagingError` saying ``what``
    pip was asked to do and the tail of its output."""
    command = [sys.executable, "-m", "pip", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PackagingError(f"Could not run pip to {what}: {exc}.") from None
    if done.returncode != 0:
        if "No module named pip" in done.stderr:
            raise PackagingError(
                f"pip is needed to {what}, and it is not installed in {sys.prefix}.",
                hint="Install it with 'python -m ensurepip' (or 'uv pip install pip').",
            )
        tail = "\n".join(done.stderr.strip().splitlines()[-12:])
        raise PackagingError(f"pip could not {what}:\n{tail}")
    return done


def source_tree() -> Path | None:
    """The project directory when the running Dockyard is a source (editable) install: pip
    builds the image's Dockyard wheel from it, and its ``pyproject.toml`` declares the
    requirements."""
    # The tree the running code comes from (an editable install, or PYTHONPATH=src): the
    # image must hold this code, even when another checkout (a git worktree) is the one
    # pip installed in editable mode.
    here = Path(__file__).resolve().parents[3]
    if (here / "pyproject.toml").is_file() and (here / "src" / "dockyard").is_dir():
        return here
    try:
        raw = md.distribution("dockyard").read_text("direct_url.json")
    except md.PackageNotFoundError:
        raw = None
    if raw:
        info = json.loads(raw)
        if "dir_info" in info and str(info.get("url", "")).startswith("file:"):
            return Path(unquote(urlparse(info["url"]).path))
    return None

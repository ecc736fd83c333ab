"""Separate virtualenvs for the servers Dockyard is compared with, under ``bench/.cache``.

Each peer gets its own environment so its dependencies never touch Dockyard's. They are
made with uv from PyPI, pinned to the scikit-learn and Python Dockyard runs with (so one
pickle loads everywhere), and reused while their requirement list is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
INSTALL_TIMEOUT = 900


class EnvError(Exception):
    """A peer environment could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class PeerEnv:
    name: str
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        return CACHE / "venvs" / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name


def _pinned(*names: str) -> tuple[str, ...]:
    return (*names, f"scikit-learn=={version('scikit-learn')}")


ENVS = {
    "baseline": PeerEnv("baseline", _pinned("flask", "pandas")),
    "mlflow": PeerEnv("mlflow", _pinned("mlflow")),
    "bentoml": PeerEnv("bentoml", _pinned("bentoml", "pandas")),
}


def _uv() -> str:
    local = Path(sys.executable).with_name("uv")
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise EnvError("uv is not installed (pip install uv)")
    return found


def ensure(env: PeerEnv, log: Path) -> PeerEnv:
    """Create or reuse ``env``; raise :class:`EnvError` with the installer's last words."""
    stamp = env.path / ".bench-requirements"
    wanted = hashlib.sha256("\n".join(env.requirements).encode()).hexdigest()
    if env.python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return env
    uv = _uv()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        steps = [
            [uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable, str(env.path)],
            [uv, "pip", "install", "--python", str(env.python), *env.requirements],
        ]
        for step in steps:
            try:
                done = subprocess.run(
                    step, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False
                )
            except subprocess.TimeoutExpired:
                raise EnvError(f"installing {env.name} took over {INSTALL_TIMEOUT} s") from None
            if done.returncode != 0:
                tail = log.read_text().strip().splitlines()[-3:]
                raise EnvError(f"installing {env.name} failed: {' / '.join(tail)}")
    stamp.write_text(wanted)
    return env


def server_env(**extra: str) -> dict[str, str]:
    """The environment servers and commands run in: this one, minus Dockyard's own
    settings, and with bytecode caching on (see :func:`precompile`)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKYARD_", "PROMETHEUS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    return env


def precompile(python: Path, paths: list[Path], log: Path) -> None:
    """Write the .pyc files an ordinary install writes, once per environment.

    Without them (``PYTHONDONTWRITEBYTECODE`` set, or uv installs, which skip them) every
    process start compiles every module it imports from source: seconds for scikit-learn,
    which would swamp the cold starts being measured.
    """
    stamp = CACHE / "precompiled" / hashlib.sha256(str(python).encode()).hexdigest()[:16]
    if stamp.exists():
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.run(
            [str(python), "-m", "compileall", "-q", "-j", "0", *map(str, paths)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("\n".join(map(str, paths)))


def site_packages(python: Path) -> Path:
    done = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(done.stdout.strip())

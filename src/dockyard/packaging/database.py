"""A PostgreSQL service beside the models, which their prediction log writes to.

The password never appears in a compose file. It lives in an env file written next to it
(mode 0600) that both sides read through ``env_file:``: the database takes
``POSTGRES_PASSWORD`` (the official image's variable, used when it first initialises its
volume), each model server takes ``DOCKYARD_PREDICTION_LOG``, the URL with the password in
it. An env file rather than a compose secret: compose (outside Swarm) bind-mounts a secret
file with the host's owner and mode, so a 0600 file is unreadable to the servers' UID 10001.

In a Swarm stack the password is in two secrets instead (``file:`` secrets, made from the
files :func:`password_file` writes), which Swarm mounts with a per-service owner: the bare
password, root's, for the database (``POSTGRES_PASSWORD_FILE``), and a libpq password file
(:func:`pgpass`), UID 10001's, for the models, whose driver (psycopg, on libpq) finds it
through ``PGPASSFILE`` and so logs to :func:`log_url`, a URL without the password.

The database initialises its data only once, with the password it is first given; so an
existing credentials file is kept as it is, and the data stays reachable when the file is
written again.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

from dockyard.errors import UsageError


class DatabaseKind(StrEnum):
    """The databases ``--database`` can add beside the models (``compose``, ``stack``,
    ``deploy``)."""

    postgres = "postgres"


def requested(kind: DatabaseKind | None, image: str | None) -> bool:
    """Whether ``--database`` asks for PostgreSQL; ``--postgres-image`` (``image``) without
    it is refused."""
    if image is not None and kind is None:
        raise UsageError("--postgres-image goes with --database postgres.")
    return kind is DatabaseKind.postgres


NODE_LABEL = "io.dockyard.postgres"
"""The Swarm node label that pins the database (and so its volume) to one node."""
SECRET = "dockyard-postgres-password"  # noqa: S105 - a secret's name
"""The Swarm secret holding the bare password (``STACK_`` before it, once deployed)."""
DEFAULT_IMAGE = "postgres:17-bookworm"
"""The official image, pinned to a major version and Debian release."""
SERVICE = "db"
"""The database's service name, which is also its host name on the compose network."""
PORT = 5432
USER = "dockyard"
DATABASE = "dockyard"
DATA = "/var/lib/postgresql/data"
"""Where the data lives in the container (``PGDATA``), on the named volume."""
VOLUME = "dockyard-postgres"

PASSWORD_VARIABLE = "POSTGRES_PASSWORD"  # noqa: S105 - a variable name
LOG_VARIABLE = "DOCKYARD_PREDICTION_LOG"


def url(*, user: str, password: str, host: str, port: int, database: str) -> str:
    """A ``postgresql://`` URL; user, password and database are percent-encoded."""
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


def log_url(password: str | None = None) -> str:
    """The URL the models log to, on the stack's network; without a password if none given."""
    if password is None:
        return f"postgresql://{USER}@{SERVICE}:{PORT}/{DATABASE}"
    return url(user=USER, password=password, host=SERVICE, port=PORT, database=DATABASE)


@dataclass(frozen=True, slots=True)
class Credentials:
    path: Path
    """The env file that holds them."""
    password: str
    created: bool
    """Whether this run wrote the file (else an existing one was kept)."""


def env_file_for(compose_file: Path) -> Path:
    """The env file beside ``compose_file``: ``compose.yaml`` → ``compose.postgres.env``."""
    return compose_file.with_name(f"{compose_file.stem}.postgres.env")


def password_file_for(stack_file: Path) -> Path:
    """The password file beside ``stack_file``: ``stack.yaml`` → ``stack.postgres.password``."""
    return stack_file.with_name(f"{stack_file.stem}.postgres.password")


def pgpass_file_for(password_file: Path) -> Path:
    """The libpq password file beside ``password_file``: ``….postgres.pgpass``."""
    return password_file.with_suffix(".pgpass")


def pgpass(password: str) -> str:
    """A libpq password file (``PGPASSFILE``) that gives ``password`` to :func:`log_url` only."""
    # Its format escapes ':' and '\\' in a field with a backslash.
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"{SERVICE}:{PORT}:{DATABASE}:{USER}:{escaped}\n"


def _read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value
    return values


def _contents(password: str) -> str:
    return (
        "# Written by 'dockyard compose --database postgres'. Keep this file: the database was\n"
        "# initialised with this password, and a new one would lock the servers out of it.\n"
        f"{PASSWORD_VARIABLE}={password}\n"
        f"{LOG_VARIABLE}={log_url(password)}\n"
    )


def credentials(path: Path) -> Credentials:
    """Read the env file at ``path``, or write a new one with a random password (mode 0600)."""
    if path.exists():
        values = _read(path)
        missing = [k for k in (PASSWORD_VARIABLE, LOG_VARIABLE) if not values.get(k)]
        if missing:
            raise UsageError(
                f"The database env file {path} has no {' or '.join(missing)}. Restore it, or "
                "delete it to have a new password generated (the database's volume must then "
                "be removed too: docker-compose down -v)."
            )
        return Credentials(path, values[PASSWORD_VARIABLE], created=False)
    password = _new_password()
    _write_private(path, _contents(password))
    return Credentials(path, password, created=True)


def password_file(path: Path) -> Credentials:
    """Read the password file at ``path`` (a Swarm ``file:`` secret: the password and nothing
    else), or write a new one with a random password; either way (re)write its libpq twin,
    :func:`pgpass_file_for`, from it. Both mode 0600."""
    created = not path.exists()
    if created:
        password = _new_password()
        _write_private(path, password)
    else:
        password = path.read_text(encoding="utf-8").strip()
        if not password:
            raise UsageError(
                f"The database password file {path} is empty. Restore it, or delete it to "
                "have a new password generated (the database's volume must then be removed "
                "too: docker volume rm STACK_dockyard-postgres)."
            )
    twin = pgpass_file_for(path)
    if not twin.exists() or twin.read_text(encoding="utf-8") != pgpass(password):
        partial = twin.with_name(f".{twin.name}.partial")
        partial.unlink(missing_ok=True)
        _write_private(partial, pgpass(password))
        partial.replace(twin)
    return Credentials(path, password, created=created)


def _new_password() -> str:
    # URL-safe characters: the password goes into a URL and an env file unquoted.
    return secrets.token_urlsafe(32)


def _write_private(path: Path, text: str) -> None:
    # O_EXCL: never follow a file (or link) someone put there since the caller's check.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def healthcheck() -> dict[str, object]:
    # Over TCP: the official image's set-up runs a socket-only server on first start, which
    # a socket check would take for the real one.
    return {
        "test": [
            "CMD",
            "pg_isready",
            "-h",
            "127.0.0.1",
            "-p",
            str(PORT),
            "-U",
            USER,
            "-d",
            DATABASE,
        ],
        "interval": "5s",
        "timeout": "3s",
        "retries": 5,
        "start_period": "30s",
    }


def environment() -> dict[str, str]:
    """The database's settings that are not secret."""
    return {"POSTGRES_USER": USER, "POSTGRES_DB": DATABASE, "PGDATA": DATA}

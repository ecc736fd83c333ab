"""Browser sessions: what the sign-in page keeps in a cookie instead of the key.

A session is ``<id>.<expiry>.<signature>``: a random id, the Unix time it ends and an
HMAC-SHA256 of both, under a key derived from the API key and ``session_secret``. Any
worker process can check one without asking the others: workers rebuild their settings
from the environment ``dockyard serve`` gives them, so they share the secret (random at
each start unless ``DOCKYARD_SESSION_SECRET`` is set). Changing the API key or the
secret ends every session.

Signing out revokes a session until it would have ended. A revocation that only one
worker knew would not be one: a server with several workers also records each revoked
id as a file in a private directory they share (named after the secret, so others
cannot guess it, in the system's temporary directory), and a worker looks for that file
when a session it has not seen revoked comes in.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dockyard.errors import UsageError


def revocation_directory(secret: str) -> Path:
    """The directory the worker processes of one server share revocations in."""
    name = hmac.new(secret.encode(), b"dockyard revoked sessions", "sha256").hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"dockyard-sessions-{name}"


class RevokedSessions:
    """Ids of sessions signed out before their end: in memory, and in ``directory``
    (for the other worker processes) when one is given."""

    def __init__(
        self, directory: Path | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._known: dict[str, float] = {}  # id -> when the session would have ended
        if directory is not None:
            _private_directory(directory)

    def add(self, session_id: str, ends: float) -> None:
        now = self._clock()
        self._known = {i: e for i, e in self._known.items() if e > now}
        self._known[session_id] = ends
        if self._directory is None:
            return
        path = self._directory / session_id
        path.touch(mode=0o600)
        os.utime(path, (ends, ends))  # the file's time says until when it matters
        for old in self._directory.iterdir():
            try:
                if old.stat().st_mtime <= now:
                    old.unlink()
            except FileNotFoundError:  # another worker removed it first
                continue

    def __contains__(self, session_id: str) -> bool:
        if session_id in self._known:
            return True
        if self._directory is None:
            return False
        try:
            ends = (self._directory / session_id).stat().st_mtime
        except FileNotFoundError:
            return False
        self._known[session_id] = ends
        return True


class Sessions:
    def __init__(
        self,
        key: str,
        secret: str,
        lifetime: float,
        revoked: RevokedSessions,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signing = hmac.new(secret.encode(), b"session\0" + key.encode(), "sha256").digest()
        self.lifetime = lifetime
        self._revoked = revoked
        self._clock = clock

    def issue(self) -> str:
        """A new session, for the cookie of someone who just signed in."""
        payload = f"{secrets.token_hex(16)}.{int(self._clock() + self.lifetime)}".encode()
        return (payload + b"." + self._sign(payload)).decode("ascii")

    def valid(self, token: bytes) -> bool:
        """Whether ``token`` is a session this server issued, not ended nor revoked."""
        parsed = self._parse(token)
        return parsed is not None and parsed[0] not in self._revoked

    def revoke(self, token: bytes) -> None:
        """Sign out: ``token`` is refused from now on, by every worker."""
        parsed = self._parse(token)
        if parsed is not None:
            self._revoked.add(*parsed)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._signing, payload, "sha256").hexdigest().encode()

    def _parse(self, token: bytes) -> tuple[str, float] | None:
        """The id and end of a genuine session that has not ended."""
        session_id, _, rest = token.partition(b".")
        ends, _, signature = rest.partition(b".")
        if len(session_id) != 32 or not ends.isdigit() or len(ends) > 12:
            return None
        if not hmac.compare_digest(signature, self._sign(session_id + b"." + ends)):
            return None
        if int(ends) <= self._clock():
            return None
        return session_id.decode("ascii"), float(ends)


def _private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, exist_ok=True)
    found = os.lstat(directory)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise UsageError(
            f"{directory} is not a directory private to this user; it cannot hold the "
            "server's signed-out sessions.",
            hint="Remove it, or set DOCKYARD_SESSION_SECRET to another value.",
        )

"""Who may call the server: the API key, and the sessions of people signed in with it.

Used by the server's middleware and fast path and by the sign-in page, which must agree:
both get the one :class:`APIKey` the server made from the key it read at start.
"""

from __future__ import annotations

import hmac

from starlette.types import Scope

from dockyard.auth.attempts import FailedAttempts
from dockyard.auth.sessions import RevokedSessions, Sessions, revocation_directory
from dockyard.settings import Settings

SESSION_COOKIE = "dockyard_session"
_SESSION_COOKIE = SESSION_COOKIE.encode()


def cross_site(scope: Scope) -> bool:
    """Whether a form was posted from another site (login CSRF). Browsers say where a
    request comes from in ``Sec-Fetch-Site``; older ones only in ``Origin``, which must
    then name the host the request was sent to. (Under ``Referrer-Policy: no-referrer``
    a browser sends ``Origin: null`` even from the page's own site: that is left to
    ``Sec-Fetch-Site``.)"""
    origin = host = fetch_site = None
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = bytes(value).lower()
        elif name == b"host" and host is None:
            host = bytes(value).lower()
        elif name == b"sec-fetch-site":
            fetch_site = bytes(value)
    if fetch_site is not None:
        return fetch_site not in (b"same-origin", b"none")
    if origin is not None:
        # The scheme is not compared: behind a proxy that ends TLS the server sees http.
        return origin.partition(b"://")[2] != host
    return False


class APIKey:
    """Who may call the server: the key, checked in constant time, in the ``X-API-Key``
    header or an ``Authorization: Bearer`` token, or the session cookie of someone signed
    in. A client address with too many wrong keys is refused even the right one for a
    while (else the refusal would still tell a guess right from wrong)."""

    def __init__(self, key: str, sessions: Sessions, attempts: FailedAttempts) -> None:
        self.key = key.encode()
        self.sessions = sessions
        self.attempts = attempts

    def authorized(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return self._key_matches(scope, bytes(value))
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                return self._key_matches(scope, bytes(value[7:].strip()))
            if name == b"cookie":
                token = _session_cookie(value)
                if token is not None and self.sessions.valid(token):
                    return True
        return False

    def presented(self, scope: Scope) -> bool:
        """Whether the request carries a key (a cookie is no guess at the key)."""
        return any(
            name == b"x-api-key" or (name == b"authorization" and value[:7].lower() == b"bearer ")
            for name, value in scope["headers"]
        )

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.key)

    def _key_matches(self, scope: Scope, presented: bytes) -> bool:
        return not self.attempts.retry_after(scope) and hmac.compare_digest(presented, self.key)


def session_cookie(scope: Scope) -> bytes | None:
    """The session token in a request's cookies, if any."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            token = _session_cookie(value)
            if token is not None:
                return token
    return None


def _session_cookie(header: bytes) -> bytes | None:
    for part in bytes(header).split(b";"):
        name, _, token = part.strip().partition(b"=")
        if name == _SESSION_COOKIE:
            return token
    return None


def server_access(settings: Settings, key: str | None) -> APIKey | None:
    """The server's access control for ``key`` (read once, by the caller), or ``None``
    when there is no key. Worker processes share sign-outs through a private directory."""
    if key is None:
        return None
    secret = settings.session_secret.get_secret_value()
    directory = revocation_directory(secret) if settings.workers > 1 else None
    sessions = Sessions(key, secret, settings.session_hours * 3600, RevokedSessions(directory))
    return APIKey(key, sessions, FailedAttempts(settings.auth_failures_per_minute))


def retry_after_header(seconds: int) -> tuple[bytes, bytes]:
    return (b"retry-after", str(seconds).encode())

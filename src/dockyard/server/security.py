"""Hardening, cheap on the hot path: the API-key check, trusted Host names, security
headers and deadlines for request bodies, as pure ASGI middleware and as parts the fast
path uses (the steps themselves are listed once, in :mod:`dockyard.server.steps`). CORS is
Starlette's middleware, closed unless origins are configured."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dockyard.auth.keys import APIKey, retry_after_header
from dockyard.errors import RequestTimeout, TooManyAttempts, Unauthorized
from dockyard.server.responses import send_error

T = TypeVar("T")

# Probes must work without credentials; so must signing in and out, and the page styles.
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/login", "/logout"}
)
OPEN_PREFIXES = ("/static/web/",)

COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Predictions, pages and metrics are for the one who asked, and stale at once: no cache
# (a proxy's or the browser's) keeps them. Static assets may be cached.
NO_STORE = (b"cache-control", b"no-store")
_STATIC = "/static/"
# Pages load only their own scripts and styles; Swagger UI sets inline style attributes.
_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    b"form-action 'self'"
)


class SecurityHeadersMiddleware:
    """Headers every response gets; HTML without a policy of its own gets the default
    Content-Security-Policy (one policy per response: a browser enforces each it gets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_STATIC)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers.extend(COMMON_HEADERS)
                if not cacheable and b"cache-control" not in names:
                    headers.append(NO_STORE)
                content_type = next((v for k, v in headers if k == b"content-type"), b"")
                if (
                    content_type.startswith(b"text/html")
                    and b"content-security-policy" not in names
                ):
                    headers.append((b"content-security-policy", _CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_PLAIN_HOST = re.compile(rb"[a-z0-9.-]+")


class TrustedHosts:
    """The names the server answers to, against DNS rebinding (a site whose name comes
    to resolve to this address must not get answers from it).

    The middleware stack refuses other names with Starlette's ``TrustedHostMiddleware``
    (a 400). The fast path takes a request only when :meth:`admits` its Host, a plain
    name among these, and leaves anything else to that middleware: what is refused is
    decided in one place.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [p.lower() for p in patterns]
        self._any = "*" in self.patterns
        self._names = frozenset(p.encode() for p in self.patterns if not p.startswith("*"))
        self._suffixes = tuple(p[1:].encode() for p in self.patterns if p.startswith("*."))
        self._seen: dict[bytes, bool] = {}

    def middleware(self) -> Middleware:
        return Middleware(TrustedHostMiddleware, allowed_hosts=self.patterns, www_redirect=False)

    def admits(self, scope: Scope) -> bool:
        if self._any:
            return True
        for name, value in scope["headers"]:
            if name == b"host":  # the first one, as Starlette reads it
                known = self._seen.get(value)
                if known is None:
                    known = self._judge(bytes(value))
                    if len(self._seen) < 64:  # a server hears a few names; others pay
                        self._seen[bytes(value)] = known
                return known
        return False

    def _judge(self, value: bytes) -> bool:
        host = value.lower()
        head, colon, port = host.rpartition(b":")
        if colon and port.isdigit():
            host = head
        if host in self._names:
            return True
        return (
            bool(self._suffixes)
            and host.endswith(self._suffixes)
            and _PLAIN_HOST.fullmatch(host) is not None
        )


class APIKeyMiddleware:
    """Require the key on every path but the probes and the sign-in page."""

    def __init__(self, app: ASGIApp, key: APIKey) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        key = self.key
        if key.authorized(scope):
            await self.app(scope, receive, send)
            return
        if key.presented(scope):
            wait = key.attempts.retry_after(scope)
            if wait:
                await send_error(send, TooManyAttempts(wait), [retry_after_header(wait)])
                return
            key.attempts.fail(scope)
        elif scope["method"] == "GET" and (path == "/" or path.startswith("/models/")):
            # A person opening a page is sent to sign in, then back.
            root = scope.get("root_path", "")
            location = f"{root}/login?next={quote(path)}".encode()
            await send(
                {"type": "http.response.start", "status": 303, "headers": [(b"location", location)]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        error = Unauthorized(
            "Missing or wrong API key.",
            hint="Send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
        )
        await send_error(send, error, [(b"www-authenticate", b'Bearer realm="dockyard"')])


def body_timeout(seconds: float) -> RequestTimeout:
    return RequestTimeout(
        f"The request body did not arrive within {seconds:g} s.",
        hint="Send the body at once; large files belong in CSV uploads.",
    )


class BodyDeadlines:
    """Deadlines for receiving request bodies, checked by one timer per event loop.

    A timer per request (``asyncio.timeout_at``) costs about 6 µs on uvloop: several
    percent of a single-row prediction. Here a read registers its task and deadline in a
    dictionary; a sweep every ``timeout / 4`` seconds (at most 1 s) cancels the reads
    past their deadline, which then raise :class:`RequestTimeout`. A deadline is so
    enforced up to one sweep interval late.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._interval = min(1.0, timeout / 4)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()

    def deadline(self) -> float:
        """A deadline ``timeout`` seconds from now, in event-loop time."""
        return asyncio.get_running_loop().time() + self.timeout

    async def read(self, pending: Awaitable[T], deadline: float) -> T:
        """Await ``pending`` (a body read); past ``deadline``, a 408 instead."""
        task = asyncio.current_task()
        assert task is not None
        if self._timer is None or self._loop is not task.get_loop():
            self._start(task.get_loop())
        self._reading[task] = deadline
        cancelling = task.cancelling()
        try:
            return await pending
        except asyncio.CancelledError:
            if task not in self._expired:
                raise
            self._expired.discard(task)
            # Cancelled by someone else too (a shutdown) in the same turn: theirs wins, as
            # with asyncio.timeout.
            if task.uncancel() > cancelling:
                raise
            raise body_timeout(self.timeout) from None
        finally:
            self._reading.pop(task, None)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:  # a new loop (tests): what the old one held is gone
            self._reading.clear()
            self._expired.clear()
            self._loop = loop
        self._timer = loop.call_later(self._interval, self._sweep)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for task, deadline in list(self._reading.items()):
            if deadline <= now and task not in self._expired:
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self._interval, self._sweep) if self._reading else None


class BodyTimeoutMiddleware:
    """A client gets ``timeout`` seconds to send its whole request body. Trickling
    clients (slowloris) get a 408 instead of holding a request open indefinitely."""

    def __init__(self, app: ASGIApp, deadlines: BodyDeadlines) -> None:
        self.app = app
        self.deadlines = deadlines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadlines = self.deadlines
        deadline = deadlines.deadline()
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:
                # After the body, receive() only waits for a disconnect: no deadline.
                return await receive()
            message = await deadlines.read(receive(), deadline)
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, timed_receive, send)

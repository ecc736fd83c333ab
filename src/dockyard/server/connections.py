"""What happens below the ASGI app: how long a client may take to send a request's
headers, and the 400 for a request that is not HTTP.

uvicorn times out idle keep-alive connections, but only after a response: a socket that
connects and sends nothing, or trickles one header line every few seconds, holds a
connection (and a file descriptor) for as long as it likes, and a few hundred of them
exhaust a worker. :class:`HeaderDeadlineProtocol` is uvicorn's httptools protocol with
one deadline more: from the moment a connection opens, or a response ends, the next
request's headers must be complete within ``header_timeout`` seconds, or the connection
is closed. Bodies have their own deadline (``security.BodyDeadlines``), once the headers
are in and the app reads them.

uvicorn answers a malformed request itself, with a 400 the app never sees; here that
answer carries the same security headers as every other one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from dockyard.server.security import COMMON_HEADERS, NO_STORE

logger = logging.getLogger("dockyard.server")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """httptools HTTP/1.1 with a deadline on reading each request's headers."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def send_400_response(self, msg: str) -> None:
        body = msg.encode("ascii")
        headers = [
            *COMMON_HEADERS,
            NO_STORE,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[400] + head + b"\r\n" + body)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self.header_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _expire(self) -> None:
        self.header_deadline = None
        # A request whose headers arrived is the app's (pipelined ones included): only a
        # connection still waiting for the next request's headers is closed.
        waiting = self.cycle is None or (self.cycle.response_complete and not self.pipeline)
        if waiting and not self.transport.is_closing():
            logger.debug("closing a connection that sent no complete headers in time")
            self.transport.close()


def protocol(header_timeout: float) -> Any:
    """The protocol factory for ``uvicorn.Config(http=...)`` (picklable, for workers)."""
    return functools.partial(HeaderDeadlineProtocol, header_timeout=header_timeout)


__all__ = ["HeaderDeadlineProtocol", "protocol"]

"""Shutdown order under SIGTERM: readiness turns false first, the server keeps
answering for ``drain_seconds`` (so load balancers stop routing to it), then uvicorn's
graceful shutdown stops accepting and finishes every request already accepted.

During the drain every answer carries ``Connection: close``: a keep-alive client that
sent its next request just as the listener closed would otherwise meet a reset socket.
Told to close, it opens a new connection for its next request instead, which a load
balancer sends elsewhere (or this server still accepts, until the drain ends)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from starlette.types import Message, Send

logger = logging.getLogger("dockyard.server")


def chain_sigterm(on_term: Callable[[], None], drain_seconds: float) -> Callable[[], None]:
    """Run ``on_term`` on SIGTERM, then (after the drain) the handler installed before.

    Returns a function that restores the previous handler. Signals can only be handled on
    the main thread; elsewhere (in-process test clients) this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    fired = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        on_term()
        if not callable(previous):
            return
        if fired.is_set() or drain_seconds <= 0:
            previous(signum, frame)
            return
        fired.set()
        logger.info("SIGTERM: not ready; draining for %.1f s before shutting down", drain_seconds)
        timer = threading.Timer(drain_seconds, previous, args=(signum, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)

    return restore


def closing_connection(send: Send) -> Send:
    """``send``, with ``Connection: close`` added to the response's headers."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
            headers.append((b"connection", b"close"))
            message = {**message, "headers": headers}
        await send(message)

    return send_closing


__all__ = ["chain_sigterm", "closing_connection"]

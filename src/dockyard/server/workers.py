"""Several worker processes, each listening on its own socket.

uvicorn's ``workers=N`` binds one socket in the parent and every worker accepts from it.
Whichever worker wakes first accepts every connection waiting, so clients that open
their keep-alive connections together (a load balancer, a connection pool) all land on
one worker while the others idle: with 32 connections, measured here, one worker at
100% CPU and the other at 0%.

With ``SO_REUSEPORT`` each worker binds a socket of its own to the same address and
the kernel spreads new connections across them. The parent binds first (a port already
in use, by anything, fails there before any worker starts) but never listens, so it
takes no connections. The parent's socket travels to each worker as uvicorn sends it, by
pickling: :class:`ReusePortSocket` pickles as its address and family, and unpickles,
in the worker, as a fresh socket bound to them. Everything else (health checks,
replacing dead workers, signals) is uvicorn's supervisor, unchanged.

A worker that dies takes the connections still in its own accept queue with it (they
are reset); its replacement binds a new socket. Platforms without ``SO_REUSEPORT`` get
uvicorn's shared socket.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from uvicorn import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from dockyard.errors import UsageError

logger = logging.getLogger("uvicorn.error")  # where uvicorn says where it listens


class ReusePortSocket(socket.socket):
    """A TCP socket bound with ``SO_REUSEPORT``; a copy in another process is a new
    socket bound to the same address, not a duplicate of this one."""

    @classmethod
    def bound(cls, family: int, address: tuple[Any, ...]) -> ReusePortSocket:
        sock = cls(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        # The actual address: with port 0 the parent was given one, and workers share it.
        return (ReusePortSocket.bound, (int(self.family), self.getsockname()))


def listen(host: str, port: int, *, workers: int) -> socket.socket:
    """Bind ``host:port`` now, before anything slow, so a port in use fails at once.

    One worker gets a plain listening socket of its own. Several get a
    :class:`ReusePortSocket` that is bound but never listens in this process: each
    worker's copy listens on its own.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # SO_REUSEPORT would let this server join another one's port and split its
        # traffic: a plain bind first fails if anything, even such a group, holds it.
        probe = socket.socket(family, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
                return probe
            address = probe.getsockname()
        except BaseException:
            probe.close()
            raise
        probe.close()
        return ReusePortSocket.bound(family, address)
    except OSError as exc:
        raise UsageError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Pick another port with --port, or stop what is using it.",
        ) from None


def run_workers(config: Config, sock: socket.socket) -> None:
    """Serve ``config.app`` (an import string) with ``config.workers`` processes on
    ``sock``, from :func:`listen`."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
    if isinstance(sock, ReusePortSocket):
        logger.info("Listening on http://%s:%d, each worker on its own socket", shown, port)
    else:  # pragma: no cover - not on Linux
        sock.listen(config.backlog)
        logger.info("Listening on http://%s:%d", shown, port)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


__all__ = ["ReusePortSocket", "listen", "run_workers"]

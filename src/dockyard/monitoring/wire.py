"""Messages between the prediction log and its writer process, over a socket pair: each is
a pickle preceded by its length. Both ends are the same program, started by its own
parent: nothing from outside reaches this socket."""

from __future__ import annotations

import pickle
import socket
import struct
from typing import Any

__all__ = ["receive", "send"]

_LENGTH = struct.Struct("!Q")


def send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)))
    sock.sendall(data)


def receive(sock: socket.socket) -> Any:
    """The next message; :class:`EOFError` when the other end has closed the socket."""
    (length,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size))
    return pickle.loads(_exactly(sock, length))  # noqa: S301 - our own process's messages


def _exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if not n:
            raise EOFError("the other end closed the socket")
        got += n
    return buffer

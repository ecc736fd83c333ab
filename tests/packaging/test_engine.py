"""The Docker engine helpers that need no engine: URLs and waiting for readiness."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from dockyard.errors import DockerError
from dockyard.packaging import engine


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture
def ipv6_port() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = _IPv6Server(("::1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    assert engine.http_url("::1", 2375) == "http://[::1]:2375"
    assert engine.http_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"


def test_wait_ready_reaches_a_server_on_an_ipv6_address(ipv6_port: int) -> None:
    assert engine.wait_ready(engine.http_url("::1", ipv6_port), timeout=10) >= 0


def test_wait_ready_refuses_a_url_without_a_port() -> None:
    with pytest.raises(DockerError, match="no host and port"):
        engine.wait_ready("http://localhost/", timeout=1)

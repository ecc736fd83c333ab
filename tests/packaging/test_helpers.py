"""The stdlib-only scripts that run inside images, and image-tar verification."""

from __future__ import annotations

import ctypes
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.errors import DockerError
from dockyard.packaging import engine, healthcheck, stripping


@pytest.fixture
def server() -> Iterator[tuple[int, list[int]]]:
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], status
    httpd.shutdown()
    httpd.server_close()


def test_healthcheck_follows_readyz(
    server: tuple[int, list[int]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port, status = server
    monkeypatch.setenv("PORT", str(port))
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # must be ignored
    assert healthcheck.main() == 0
    assert capsys.readouterr().out == ""
    status[0] = 503
    assert healthcheck.main() == 1
    # The reason lands in the container's health log, where people and deploy read it.
    assert capsys.readouterr().out == f"GET http://127.0.0.1:{port}/readyz: HTTP 503\n"


def test_healthcheck_fails_when_nothing_listens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "1")
    assert healthcheck.main() == 1
    assert capsys.readouterr().out.startswith("GET http://127.0.0.1:1/readyz: Connection refused")


def test_strip_keeps_a_shared_object_loadable(tmp_path: Path) -> None:
    import uvloop.loop

    source = Path(uvloop.loop.__file__)
    copy = tmp_path / "site" / "pkg" / source.name
    copy.parent.mkdir(parents=True)
    shutil.copyfile(source, copy)
    changed, saved = stripping.strip_tree(tmp_path / "site")
    assert changed == 1
    assert saved > 0
    assert copy.stat().st_size < source.stat().st_size
    ctypes.CDLL(str(copy))  # the dynamic linker still accepts it
    assert stripping.strip(copy.read_bytes()) is None  # nothing left to remove
    assert stripping.strip(b"not an ELF file") is None


def test_identical_vendored_libraries_become_links(tmp_path: Path) -> None:
    for package in ("a.libs", "b.libs"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "libx.so.1").write_bytes(b"same bytes")
    assert stripping.dedupe_vendored(tmp_path) == len(b"same bytes")
    assert (tmp_path / "b.libs" / "libx.so.1").is_symlink()
    assert (tmp_path / "b.libs" / "libx.so.1").read_bytes() == b"same bytes"


def test_a_corrupted_image_tar_is_refused(tmp_path: Path) -> None:
    tar = tmp_path / "iris.tar"
    tar.write_bytes(b"image layers")
    with pytest.raises(DockerError, match="missing"):
        engine.verify(tar)
    engine.sha256_path(tar).write_text(f"{hashlib.sha256(b'image layers').hexdigest()}  iris.tar\n")
    engine.verify(tar)
    tar.write_bytes(b"image layerz")
    with pytest.raises(DockerError, match="corrupted"):
        engine.verify(tar)


def test_no_engine_names_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    with pytest.raises(DockerError) as info:
        engine.connect()
    assert "tcp://127.0.0.1:9" in str(info.value)
    assert "DOCKER_HOST" in str(info.value)

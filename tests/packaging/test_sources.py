"""numpy compiled without BLAS for slim images: the pinned source, its tools, the stage."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import ssl
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.errors import PackagingError
from dockyard.packaging import dockerfile, sources
from dockyard.packaging.lock import Target

TARGET = Target("3.11", "x86_64")
PYPROJECT = b"""
[build-system]
build-backend = "mesonpy"
requires = ["meson-python>=0.18.0", "Cython>=3.0.6"]
"""


def _archive(top: str = "numpy-2.4.6") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in ((f"{top}/pyproject.toml", PYPROJECT), (f"{top}/README", b"hi")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class FakeIndex:
    """A simple index on 127.0.0.1 with one project, as JSON (PEP 691) or HTML (PEP 503)."""

    def __init__(self, files: dict[str, bytes], *, html: bool = False) -> None:
        self.files = files
        self.html = html
        self.published: dict[str, str] = {
            n: hashlib.sha256(d).hexdigest() for n, d in files.items()
        }
        self.requests: list[str] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append(self.path)
                if self.path == "/simple/numpy/":
                    body, kind = index.page()
                elif self.path.startswith("/files/") and self.path[7:] in index.files:
                    body, kind = index.files[self.path[7:]], "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def page(self) -> tuple[bytes, str]:
        if self.html:
            links = "".join(
                f'<a href="../../files/{n}#sha256={h}">{n}</a>' for n, h in self.published.items()
            )
            return f"<html><body>{links}</body></html>".encode(), "text/html"
        files = [
            {"filename": n, "url": f"/files/{n}", "hashes": {"sha256": h}}
            for n, h in self.published.items()
        ]
        return json.dumps({"files": files}).encode(), sources._JSON


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeIndex]:
    served = FakeIndex({"numpy-2.4.6.tar.gz": _archive(), "numpy-2.4.6-cp311-x.whl": b"wheel"})
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PIP_INDEX_URL", served.url)
    monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path / "cache"))
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("base", "build"),
    [
        ("python:3.11-slim", "python:3.11"),
        ("python:3.11-slim-bookworm", "python:3.11-bookworm"),
        ("docker.io/library/python:3.12.4-slim", "docker.io/library/python:3.12.4"),
        (
            "registry.example.com:5000/mirror/python:3.11-slim",
            "registry.example.com:5000/mirror/python:3.11",
        ),
        ("python:3.11", None),
        ("debian:bookworm-slim", None),
        ("dockyard-test-base:bookworm", None),
    ],
)
def test_the_build_image_of_an_official_slim_base_is_its_full_sibling(
    base: str, build: str | None
) -> None:
    assert sources.default_build_base(base) == build


@pytest.mark.parametrize("html", [False, True], ids=["pep691-json", "pep503-html"])
def test_the_source_archive_is_pinned_by_the_indexs_hash_and_verified_on_download(
    index: FakeIndex, tmp_path: Path, html: bool
) -> None:
    index.html = html
    pin = sources.source_pin("numpy", "2.4.6", TARGET)
    assert (pin.name, pin.version, pin.filename) == ("numpy", "2.4.6", "numpy-2.4.6.tar.gz")
    assert pin.sha256 == index.published["numpy-2.4.6.tar.gz"]
    file = sources.fetch_source(pin, tmp_path / "wheels")
    assert file.read_bytes() == index.files["numpy-2.4.6.tar.gz"]
    assert sources.build_requirements(file) == ["meson-python>=0.18.0", "Cython>=3.0.6"]


def test_a_pinned_and_fetched_source_needs_no_index_again(
    index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.processes import free_port

    pin = sources.source_pin("numpy", "2.4.6", TARGET)
    sources.fetch_source(pin, tmp_path / "wheels")
    # No index at all now: a closed port, which refuses at once.
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    again = sources.source_pin("numpy", "2.4.6", TARGET)
    assert again == pin
    assert sources.fetch_source(again, tmp_path / "wheels").is_file()


def test_an_archive_that_does_not_match_the_published_hash_is_not_kept(
    index: FakeIndex, tmp_path: Path
) -> None:
    pin = sources.source_pin("numpy", "2.4.6", TARGET)
    index.files["numpy-2.4.6.tar.gz"] = _archive("numpy-2.4.6-tampered")
    with pytest.raises(PackagingError, match="sha256") as caught:
        sources.fetch_source(pin, tmp_path / "wheels")
    assert "was not kept" in caught.value.message
    assert not list((tmp_path / "wheels").iterdir())


def test_a_substituted_archive_in_the_wheelhouse_is_refused(
    index: FakeIndex, tmp_path: Path
) -> None:
    pin = sources.source_pin("numpy", "2.4.6", TARGET)
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / pin.filename).write_bytes(_archive("numpy-evil"))
    with pytest.raises(PackagingError, match="does not match the lock") as caught:
        sources.fetch_source(pin, tmp_path / "wheels")
    assert caught.value.hint is not None
    assert "Delete" in caught.value.hint


def test_a_version_without_a_source_archive_names_the_way_out(index: FakeIndex) -> None:
    with pytest.raises(PackagingError, match=r"no source archive of numpy 9\.9\.9") as caught:
        sources.source_pin("numpy", "9.9.9", TARGET)
    assert caught.value.hint is not None
    assert "--numpy-wheel" in caught.value.hint


def test_an_unreachable_index_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tests.processes import free_port

    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path))
    with pytest.raises(PackagingError, match="Could not read the package index page"):
        sources.source_pin("numpy", "2.4.6", TARGET)


SPEC = dockerfile.ImageSpec(
    "python:3.11-slim", "3.11", "0.1.0", True,
    (dockerfile.ModelSpec("iris", "1", "ab" * 32),), slim=True,
    numpy_source=dockerfile.SourceArchive("python:3.11", "numpy-2.4.6.tar.gz", "cd" * 32),
)  # fmt: skip


def test_a_slim_dockerfile_compiles_numpy_offline_in_the_build_image_first() -> None:
    text = dockerfile.render(SPEC)
    compile_stage, rest = text.split("\nFROM python:3.11-slim AS builder\n")
    assert "FROM python:3.11 AS numpy" in compile_stage
    # Only the pinned archive and tools, from the context, their hashes checked first.
    assert "--no-index --find-links /opt/dockyard-build/sources --require-hashes -r " in (
        compile_stage
    )
    assert f"-r /opt/dockyard-build/{dockerfile.TOOLS_LOCK}" in compile_stage
    archive = "/opt/dockyard-build/sources/numpy-2.4.6.tar.gz"
    check = f'echo "{"cd" * 32}  {archive}" | sha256sum --check --strict'
    assert compile_stage.index(check) < compile_stage.index("-m pip wheel ")
    # The options on the command line with the archive itself, where pip applies them.
    wheel = compile_stage[compile_stage.index("-m pip wheel ") :]
    for arg in dockerfile.NUMPY_SETUP_ARGS:
        assert f"-Csetup-args={arg}" in wheel
    assert wheel.rstrip().endswith(archive)
    assert " -r " not in wheel
    # The builder installs that wheel before the hash-locked rest, and the final stage has
    # neither the compiler image nor the sources.
    builder, final = rest.split("\nFROM python:3.11-slim\n")
    assert builder.index("compiled/numpy-*.whl") < builder.index(
        "-r /opt/dockyard-build/requirements.lock"
    )
    assert "--from=numpy" not in final
    assert "sources/" not in final
    # And the builder imports the compiled numpy at once: a wheel that cannot load in the
    # base (a newer C library in the build image) fails the build, not the server.
    assert builder.index('python -c "import numpy"') < builder.index("/requirements.lock")
    for allowed in ("!sources/", f"!{dockerfile.SOURCE_LOCK}", f"!{dockerfile.TOOLS_LOCK}"):
        assert allowed in dockerfile.DOCKERIGNORE.splitlines()


def test_without_a_build_image_numpy_comes_as_its_wheel() -> None:
    import dataclasses

    text = dockerfile.render(dataclasses.replace(SPEC, numpy_source=None))
    assert " AS numpy" not in text
    assert "/compiled" not in text
    assert text.count("\nFROM ") == 2


def test_an_index_on_disk_is_read_as_pip_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    archive = _archive()
    files = tmp_path / "files"
    files.mkdir()
    (files / "numpy-2.4.6.tar.gz").write_bytes(archive)
    page = tmp_path / "simple" / "numpy"
    page.mkdir(parents=True)
    digest = hashlib.sha256(archive).hexdigest()
    (page / "index.html").write_text(
        f'<a href="../../files/numpy-2.4.6.tar.gz#sha256={digest}">numpy-2.4.6.tar.gz</a>'
    )
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path / "cache"))
    pin = sources.source_pin("numpy", "2.4.6", TARGET)
    assert pin.sha256 == digest
    assert sources.fetch_source(pin, tmp_path / "wheels").read_bytes() == archive


def test_index_credentials_go_in_a_header_and_never_into_messages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_error(500, "index down")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        monkeypatch.setenv("PIP_INDEX_URL", f"http://aws:s3cr%40t@127.0.0.1:{port}/simple")
        monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path))
        with pytest.raises(PackagingError) as caught:
            sources.source_pin("numpy", "2.4.6", TARGET)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert seen == ["Basic " + base64.b64encode(b"aws:s3cr@t").decode()]
    text = f"{caught.value.message} {caught.value.hint}"
    assert "HTTP 500" in text
    assert "***@127.0.0.1" in text
    assert "s3cr" not in text
    assert "aws" not in text


def test_yanked_and_percent_encoded_links_of_an_html_index(tmp_path: Path) -> None:
    page = tmp_path / "simple" / "numpy"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        '<a href="../../f/numpy-2.4.6.tar.gz#sha256=aa" data-yanked="">numpy-2.4.6.tar.gz</a>'
        '<a href="../../f/numpy%2B-2.4.5.tar.gz?x=1#sha256=bb">numpy+-2.4.5.tar.gz</a>'
    )
    index = sources._Index((tmp_path / "simple").as_uri(), ssl.create_default_context())
    files = sources._index_files(index, "NumPy")
    assert list(files) == ["numpy+-2.4.5.tar.gz"]
    assert files["numpy+-2.4.5.tar.gz"][1] == "bb"


def test_pip_settings_are_read_as_pip_prints_them_the_environment_winning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    listing = (
        ":env:.index-url='https://env.example/simple'\n"
        "global.index-url='https://files.example/simple'\n"
        "global.cert='/etc/ssl/company.pem'\n"
        "global.extra-index-url='file:///a file:///b'\n"
    )

    def fake_run(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, stdout=listing, stderr="")

    monkeypatch.setattr(sources.subprocess, "run", fake_run)
    assert sources._Index.configured().url == "https://env.example/simple"
    assert sources._pip_config()["cert"] == "/etc/ssl/company.pem"


def test_the_source_archive_is_found_in_any_spelling_of_its_name_and_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The index's file names are read as sdist names: 2.4.0 is published as "NumPy-2.4.tar.gz".
    archive = _archive()
    files = tmp_path / "files"
    files.mkdir()
    (files / "NumPy-2.4.tar.gz").write_bytes(archive)
    page = tmp_path / "simple" / "numpy"
    page.mkdir(parents=True)
    digest = hashlib.sha256(archive).hexdigest()
    (page / "index.html").write_text(
        f'<a href="../../files/numpy-2.4.0rc1.tar.gz#sha256={digest}">rc</a>'
        f'<a href="../../files/NumPy-2.4.tar.gz#sha256={digest}">NumPy-2.4.tar.gz</a>'
    )
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "simple").as_uri())
    monkeypatch.setenv("DOCKYARD_CACHE_DIR", str(tmp_path / "cache"))
    pin = sources.source_pin("numpy", "2.4.0", TARGET)
    assert pin.filename == "NumPy-2.4.tar.gz"

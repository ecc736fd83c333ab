"""numpy compiled from source without BLAS, for slim images.

numpy's wheels carry OpenBLAS and the gfortran runtime (28 MB) for matrix products and linear
algebra. A slim image never does either with numpy: ONNX Runtime does the model's arithmetic,
numpy only holds the arrays. So a slim image compiles numpy from its source release with no
BLAS or LAPACK (numpy's own fallback loops remain): the same version and API, an image
25 MB smaller.

Everything the compile reads is pinned by sha256, like the wheels: the source archive (the
hash the package index publishes for it, checked while downloading and again before every
build) and the build tools' wheels, resolved for the image's platform from the build
requirements the archive itself declares. The compile runs in a stage of the image build, in
a build image with a C/C++ compiler and the same Python as the base (``python:X.Y`` for
``python:X.Y-slim``), so it works from any host, and offline.

The package-index client here is hand-written (the simple API's JSON and HTML pages, read as
pip reads them, with pip's own index URL, credentials and certificate settings): pip has no
API to ask for one source archive's URL and published sha256 (``pip download`` fetches and
unpacks, and prepares metadata from an sdist by running its build backend), and a library
that does (pypi-simple) would be one more runtime dependency for one request per slim build.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import http.client
import json
import re
import ssl
import subprocess
import sys
import tarfile
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit, urlunsplit

from packaging.utils import InvalidSdistFilename, canonicalize_name, parse_sdist_filename
from packaging.version import InvalidVersion, Version

from dockyard.errors import PackagingError
from dockyard.files import replacing_bytes, write_text
from dockyard.packaging import wheelhouse as wheels
from dockyard.packaging.lock import Lock, Pin, Target, cache_dir, resolve

# Always locked with the build requirements: ninja, which meson-python uses when the build image
# has none (python:X.Y has none), and a current pip (a venv's own may predate -C and repeated
# config settings: Debian bookworm's is 23.0).
_ALWAYS = ("ninja", "pip")
PYPI_SIMPLE = "https://pypi.org/simple"
_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT = 60.0
_SLIM_SUFFIX = re.compile(r"^(?P<repo>(?:[\w.:-]+/)*python):(?P<version>[^-]+)-slim(?P<rest>-.+)?$")


@dataclass(frozen=True, slots=True)
class SourceBuild:
    """What the build image needs to compile numpy: its source archive and its build tools."""

    source: Lock
    """One pin: the source archive (``numpy-X.Y.Z.tar.gz``) and its sha256."""
    tools: Lock
    """The build requirements' wheels for the image's platform, hash-pinned."""
    build_base: str

    @property
    def archive(self) -> Pin:
        return self.source.pins[0]


def default_build_base(base_image: str) -> str | None:
    """``python:X.Y`` for the official ``python:X.Y-slim`` (same Python, with compilers);
    None for any other base, whose matching build image Dockyard cannot guess."""
    match = _SLIM_SUFFIX.match(base_image)
    if match is None:
        return None
    return f"{match['repo']}:{match['version']}{match['rest'] or ''}"


def _pip_config() -> dict[str, str]:
    """pip's settings as ``pip config list`` shows them: option → value, the environment's
    (``PIP_*``) over the files', so that the index is asked as pip would ask it."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return {}
    found: dict[str, str] = {}
    lines = done.stdout.splitlines() if done.returncode == 0 else []
    # Files first, then ':env:' lines, so that the environment wins.
    for line in sorted(lines, key=lambda raw: raw.startswith(":env:")):
        key, sep, value = line.partition("=")
        section, _, option = key.rpartition(".")
        if sep and section in {"global", "install", "download", ":env:"}:
            with contextlib.suppress(ValueError, SyntaxError):
                found[option] = str(ast.literal_eval(value.strip()))  # pip prints repr()
    return found


@dataclass(frozen=True, slots=True)
class _Index:
    """The package index pip is configured with, else PyPI, and how to reach it: pip's CA
    bundle (``cert``), else the system's. Read once per lookup (``pip config`` is a process)."""

    url: str
    tls: ssl.SSLContext

    @classmethod
    def configured(cls) -> _Index:
        config = _pip_config()
        cert = config.get("cert")
        return cls(
            config.get("index-url") or PYPI_SIMPLE,
            ssl.create_default_context(cafile=cert if cert and Path(cert).is_file() else None),
        )


def redact(url: str) -> str:
    """``url`` without the user name and password an index URL may carry."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _request(url: str, index: str, accept: str = "*/*") -> urllib.request.Request:
    """A request for ``url``, with the index URL's credentials (Basic auth, as pip sends
    them) when it goes to the index's own host, never in the URL itself."""
    parts, credentials = urlsplit(url), urlsplit(index)
    headers = {"Accept": accept}
    if credentials.username is not None and parts.hostname == credentials.hostname:
        pair = f"{unquote(credentials.username)}:{unquote(credentials.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return urllib.request.Request(bare, headers=headers)  # noqa: S310 - scheme checked by callers


def _failure(what: str, url: str, exc: Exception, *, hint: str) -> PackagingError:
    if isinstance(exc, urllib.error.HTTPError):
        reason = f"HTTP {exc.code} {exc.reason}"
    else:
        reason = str(getattr(exc, "reason", None) or exc)
    return PackagingError(f"Could not {what} {redact(url)}: {reason}.", hint=hint)


# What can go wrong between here and an index: the network, TLS, HTTP, a malformed URL.
_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)
_OFFLINE_HINT = (
    "Build once with access to the index (the archive is then kept in the wheelhouse), "
    "or pass --numpy-wheel to install numpy's wheel instead."
)


class _Anchors(HTMLParser):
    """The links of a PEP 503 (HTML) simple index page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, bool]] = []
        """(href, yanked) of every anchor."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            if href := found.get("href"):
                self.links.append((href, "data-yanked" in found))


def _index_files(index: _Index, project: str) -> dict[str, tuple[str, str | None]]:
    """filename → (absolute URL, sha256 or None) from the index's page for ``project``."""
    page = f"{index.url.rstrip('/')}/{canonicalize_name(project)}/"
    if urlsplit(page).scheme not in ("http", "https", "file"):
        raise PackagingError(
            f"The package index {redact(index.url)} is not an http(s) or file URL.",
            hint="Set pip's index-url (PIP_INDEX_URL) to one, or pass --numpy-wheel.",
        )
    if page.startswith("file:"):
        page += "index.html"  # a PEP 503 index on disk, as pip reads it
    request = _request(page, index.url, accept=f"{_JSON}, text/html;q=0.1")
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT, context=index.tls) as response:  # noqa: S310
            kind = response.headers.get_content_type()
            body = response.read()
            base = response.geturl()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response, and with it the connection
        if exc.code == 404:
            raise PackagingError(
                f"The package index {redact(index.url)} has no page for {project}.",
                hint="Check pip's index-url, or pass --numpy-wheel.",
            ) from None
        raise _failure("read the package index page", page, exc, hint=_OFFLINE_HINT) from None
    except _NETWORK_ERRORS as exc:
        raise _failure("read the package index page", page, exc, hint=_OFFLINE_HINT) from None
    files: dict[str, tuple[str, str | None]] = {}
    try:
        if kind == _JSON:
            for item in json.loads(body)["files"]:
                if not item.get("yanked"):
                    url = urljoin(base, item["url"])
                    files[item["filename"]] = (url, item.get("hashes", {}).get("sha256"))
            return files
    except (ValueError, KeyError, TypeError) as exc:
        raise PackagingError(
            f"The package index page {redact(page)} is not valid PEP 691 JSON ({exc!r}).",
            hint="Check pip's index-url, or pass --numpy-wheel.",
        ) from None
    parser = _Anchors()
    parser.feed(body.decode("utf-8", errors="replace"))
    for href, yanked in parser.links:
        if yanked:
            continue
        url, fragment = urldefrag(urljoin(base, href))
        algorithm, _, digest = fragment.partition("=")
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        files[name] = (url, digest if algorithm == "sha256" and digest else None)
    return files


def _is_source_archive(filename: str, name: str, version: str) -> bool:
    """Whether ``filename`` is the ``.tar.gz`` source archive of ``name`` ``version``, in any
    spelling (older archives keep the project's own: ``numpy-1.26.4.tar.gz``)."""
    if not filename.lower().endswith(".tar.gz"):
        return False
    try:
        project, found = parse_sdist_filename(filename)
        return project == name and found == Version(version)
    except (InvalidSdistFilename, InvalidVersion):
        return False


def source_pin(project: str, version: str, target: Target) -> Pin:
    """The source archive of ``project==version`` and the sha256 the index publishes for it.

    Cached like a lock, so that a rebuild needs no index.
    """
    name = canonicalize_name(project)
    cached = cache_dir() / "locks" / f"source-{name}-{version}.txt"
    if cached.is_file():
        return Lock.parse(cached.read_text(encoding="utf-8"), source=str(cached)).pins[0]
    index = _Index.configured()
    files = _index_files(index, name)
    found = next((f for f in files if _is_source_archive(f, name, version)), None)
    if found is None:
        raise PackagingError(
            f"The index {redact(index.url)} has no source archive of {name} {version} "
            f"({name}-{version}.tar.gz).",
            hint="Pass --numpy-wheel to install numpy's wheel instead.",
        )
    digest = files[found][1]
    if digest is None:
        raise PackagingError(
            f"The index {redact(index.url)} publishes no sha256 for {found}; it cannot be pinned.",
            hint="Use an index that publishes hashes (PyPI does), or pass --numpy-wheel.",
        )
    pin = Pin(name, version, digest, found)
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_text(cached, Lock(target, (pin,)).render())
    return pin


def fetch_source(pin: Pin, wheelhouse: Path) -> Path:
    """The verified source archive of ``pin`` in ``wheelhouse``, downloaded if missing."""
    if (present := wheels.verified(pin, wheelhouse)) is not None:
        return present
    file = wheelhouse / pin.filename
    index = _Index.configured()
    listed = _index_files(index, pin.name).get(pin.filename)
    if listed is None:
        raise PackagingError(
            f"The index {redact(index.url)} does not list {pin.filename}.",
            hint="Copy the archive into the wheelhouse, or pass --numpy-wheel.",
        )
    url = listed[0]
    wheelhouse.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with replacing_bytes(file) as out:
            request = _request(url, index.url)
            with urllib.request.urlopen(request, timeout=_TIMEOUT, context=index.tls) as response:  # noqa: S310
                while block := response.read(1 << 20):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != pin.sha256:
                raise PackagingError(
                    f"{pin.filename} from {redact(url)} has sha256 {digest.hexdigest()[:12]}…, "
                    f"but the index publishes {pin.sha256[:12]}…; it was not kept.",
                    hint="Build again; if it happens again, the index or a proxy serves other bytes.",
                )
    except _NETWORK_ERRORS as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()
        raise _failure("download", url, exc, hint=_OFFLINE_HINT) from None
    return file


def build_requirements(archive: Path) -> list[str]:
    """The ``[build-system] requires`` of a source archive's ``pyproject.toml``."""
    try:
        with tarfile.open(archive) as tar:
            member = next(
                (
                    m
                    for m in tar.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml")
                ),
                None,
            )
            handle = tar.extractfile(member) if member is not None else None
            if handle is None:
                raise PackagingError(f"{archive.name} has no pyproject.toml at its top.")
            project = tomllib.loads(handle.read().decode("utf-8"))
    except (tarfile.TarError, OSError, tomllib.TOMLDecodeError) as exc:
        raise PackagingError(
            f"Could not read the build requirements of {archive}: {exc}."
        ) from None
    requires = project.get("build-system", {}).get("requires", [])
    return [str(r) for r in requires]


def numpy_without_blas(
    version: str, target: Target, wheelhouse: Path, *, build_base: str
) -> tuple[SourceBuild, list[Path]]:
    """Pin numpy ``version``'s source archive and its build tools; return the pins and their
    verified files in ``wheelhouse`` (missing ones are downloaded).

    The files always go into the build context, online build or not: the compile stage never
    needs the network.
    """
    pin = source_pin("numpy", version, target)
    archive = fetch_source(pin, wheelhouse)
    tools = resolve([*build_requirements(archive), *_ALWAYS], target)
    return SourceBuild(Lock(target, (pin,)), tools, build_base), [
        archive,
        *wheels.fetch(tools, wheelhouse),
    ]

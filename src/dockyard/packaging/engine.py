"""The Docker engine, through the Docker SDK for Python (the Engine API, no ``docker`` CLI).

Every failure surfaces as :class:`dockyard.errors.DockerError` with what to do next.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console

from dockyard.bundle.store import sha256_file
from dockyard.errors import DockerError
from dockyard.packaging.dockerfile import PORT

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


def sdk() -> Any:
    """The ``docker`` package (an optional dependency), or a :class:`DockerError` saying how to
    install it."""
    try:
        import docker
    except ImportError:
        raise DockerError(
            "The Docker SDK for Python is not installed.",
            hint="Install it with: pip install 'dockyard[docker]'.",
        ) from None
    return docker


def connect() -> Any:
    """A client for the engine at ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    docker = sdk()
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (DOCKER_HOST is not set)"
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        reason = str(exc).splitlines()[0][:200]
        raise DockerError(
            f"No Docker engine is reachable at {where}: {reason}",
            hint=(
                "Start one (Linux: 'sudo systemctl start docker', or 'sudo dockerd &'; macOS and "
                "Windows: start Docker Desktop), or set DOCKER_HOST to an engine that is running "
                "(e.g. DOCKER_HOST=ssh://user@buildhost)."
            ),
        ) from None
    return client


def machine(client: Any) -> str:
    """The engine's CPU architecture, which is the architecture of the images it builds."""
    return str(client.info().get("Architecture", "x86_64"))


@dataclass(frozen=True, slots=True)
class Built:
    tag: str
    image_id: str
    size: int
    base_size: int | None
    seconds: float
    sbom: Path | None = None
    """The CycloneDX SBOM written beside the build, if any."""
    could_be_slim: bool = False
    """A full serving image whose every bundle has a verified ONNX export: a slim image
    (ONNX Runtime, no scikit-learn) would serve them too."""

    def describe(self) -> str:
        added = f", {mb(self.size - self.base_size)} on top of the base" if self.base_size else ""
        return f"{self.tag}: {mb(self.size)}{added}, built in {self.seconds:.1f} s"


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def image_size(client: Any, ref: str) -> int | None:
    docker = sdk()
    try:
        return int(client.images.get(ref).attrs["Size"])
    except docker.errors.ImageNotFound:
        return None


def require_local(client: Any, images: Sequence[str]) -> None:
    """Refuse to start an offline build whose base images are not on the engine: with no
    network it cannot pull them, and would fail only after locking and fetching every wheel."""
    missing = [image for image in images if image_size(client, image) is None]
    if not missing:
        return
    one = len(missing) == 1
    it = "it" if one else "them"
    pulls = " && ".join(f"docker pull {image}" for image in missing)
    raise DockerError(
        f"The base image{'' if one else 's'} {' and '.join(missing)} {'is' if one else 'are'} "
        f"not on this engine, and an --offline build cannot pull {it}.",
        hint=f"Bring {it} here once: '{pulls}' on a connected machine; if this one has no "
        f"network, 'docker save -o base.tar {' '.join(missing)}' there and "
        "'docker load -i base.tar' here.",
    )


def _stream(client: Any, context: Path, tag: str, *, network: bool) -> Iterator[dict[str, Any]]:
    docker = sdk()
    try:
        yield from client.api.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            # Offline builds get no network at all: proof that nothing is fetched.
            network_mode=None if network else "none",
        )
    except docker.errors.DockerException as exc:
        raise DockerError(f"The engine refused to build {tag}: {exc}") from None


def build(
    client: Any,
    context: Path,
    tag: str,
    *,
    network: bool,
    base_image: str,
    console: Console,
    build_base: str | None = None,
) -> Built:
    """Build ``context`` as ``tag``, streaming each step to ``console``."""
    started = time.monotonic()
    image_id = ""
    tail: list[str] = []
    with console.status(f"Building {tag}…") as status:
        for chunk in _stream(client, context, tag, network=network):
            if "error" in chunk:
                detail = "\n".join(tail[-15:])
                hint = None
                if "pull access denied" in chunk["error"] or "dial tcp" in chunk["error"]:
                    images = " or ".join(i for i in (base_image, build_base) if i)
                    hint = (
                        f"The image {images} is not on this engine and cannot be pulled; pass "
                        "--base-image (and for --slim, --build-base) with a local image."
                    )
                raise DockerError(
                    f"Building {tag} failed: {chunk['error'].strip()}\n{detail}", hint=hint
                )
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
            text = str(chunk.get("stream", "")).rstrip()
            if not text:
                continue
            tail.append(text)
            step = _STEP.match(text)
            if step:
                number, total, instruction = step.groups()
                status.update(f"Building {tag}: step {number}/{total}")
                console.print(
                    f"[dim]{number:>2}/{total}[/] {instruction}",
                    highlight=False,
                    no_wrap=True,
                    overflow="ellipsis",
                )
            elif text.strip() == "---> Using cache":
                console.print("       [green]cached[/]")
    built_image = client.images.get(tag)
    size = int(built_image.attrs["Size"])
    return Built(
        tag,
        image_id or str(built_image.id),
        size,
        image_size(client, base_image),
        time.monotonic() - started,
    )


def wait_ready(url: str, *, timeout: float, container: Any | None = None) -> float:
    """Poll ``url`` + ``/readyz`` until it answers 200; return the seconds it took."""
    started = time.monotonic()
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if host is None or port is None:
        raise DockerError(f"{url} names no host and port to wait on.")
    while True:
        connection = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=20).decode(errors="replace")
                raise DockerError(f"The container exited before it was ready:\n{logs}")
        if time.monotonic() - started > timeout:
            raise DockerError(f"{url} was not ready after {timeout:.0f} s.")
        time.sleep(0.05)


def run(
    client: Any,
    image: str,
    *,
    port: int | None,
    host_ip: str = "127.0.0.1",
    name: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> tuple[Any, str]:
    """Start ``image`` hardened (read-only root, tmpfs /tmp, no capabilities); return it and its URL."""
    docker = sdk()
    try:
        container = client.containers.run(
            image,
            detach=True,
            name=name,
            ports={f"{PORT}/tcp": (host_ip, port)},
            read_only=True,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"},  # noqa: S108 - the container's own tmpfs
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            environment=dict(environment or {}),
        )
        container.reload()
    except docker.errors.ImageNotFound:
        raise DockerError(
            f"No image {image} on this engine.", hint="Build it with 'dockyard build'."
        ) from None
    except docker.errors.DockerException as exc:
        raise DockerError(f"Could not start {image}: {exc}") from None
    bindings = container.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"]
    return container, http_url(host_ip, int(bindings[0]["HostPort"]))


def http_url(host: str, port: int) -> str:
    """``http://host:port``, an IPv6 address in brackets (``http://[::1]:8000``)."""
    return urlunsplit(("http", f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "", "", ""))


def save(client: Any, image: str, out: Path) -> str:
    """Write ``image`` to ``out`` (a ``docker save`` tar) and ``out.sha256``; return the digest."""
    docker = sdk()
    try:
        found = client.images.get(image)
        # The tar names the tag that was asked for, not whichever tag the image lists first.
        wanted = image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"
        chunks = found.save(named=wanted if wanted in found.tags else True)
    except docker.errors.ImageNotFound:
        raise DockerError(f"No image {image} on this engine.") from None
    digest = hashlib.sha256()
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as fh:
        for chunk in chunks:
            digest.update(chunk)
            fh.write(chunk)
    partial.replace(out)
    checksum = sha256_path(out)
    checksum.write_text(f"{digest.hexdigest()}  {out.name}\n", encoding="utf-8")
    return digest.hexdigest()


def sha256_path(tar: Path) -> Path:
    return tar.with_name(tar.name + ".sha256")


def verify(tar: Path) -> str:
    """Check ``tar`` against its ``.sha256`` file; raise if absent or different."""
    checksum = sha256_path(tar)
    if not tar.is_file():
        raise DockerError(f"No such file: {tar}.")
    if not checksum.is_file():
        raise DockerError(
            f"{checksum} is missing, so {tar} cannot be verified.",
            hint="Copy the .sha256 file written by 'dockyard save' next to the tar.",
        )
    expected = checksum.read_text(encoding="utf-8").split()[0].lower()
    actual = sha256_file(tar)
    if actual != expected:
        raise DockerError(
            f"{tar} is corrupted: sha256 {actual[:12]}…, expected {expected[:12]}…; not loaded.",
            hint="Copy it again from the machine that saved it.",
        )
    return expected


def load(client: Any, tar: Path) -> list[str]:
    """Verify ``tar`` against its checksum, then load it; return the image tags it held."""
    verify(tar)
    docker = sdk()
    try:
        with tar.open("rb") as fh:
            images = client.images.load(fh)
    except docker.errors.DockerException as exc:
        raise DockerError(f"The engine refused {tar}: {exc}") from None
    return [tag for image in images for tag in image.tags] or [image.id for image in images]

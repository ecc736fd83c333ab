"""Push and pull model images through a registry, tagged from the bundle they serve.

An image goes up as ``REGISTRY/NAME:VERSION`` and ``REGISTRY/NAME:sha256-BUNDLE_SHA256``,
both read from its labels: the first is what people ask for, the second names the exact
bundle bytes, so a retrained model can never hide behind a reused version.

Everything goes through the engine's API, which reads the user's ``docker login``
credentials itself (config file or credential helper); Dockyard never sees, prints or
stores them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from dockyard.errors import DockerError, PackagingError
from dockyard.packaging import engine

_REGISTRY = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:/[a-z0-9._-]+)*$"
)
_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class Identity:
    """What a Dockyard image's labels say it serves."""

    models: dict[str, str]
    """Bundle sha256 by model name."""
    versions: dict[str, str]
    """Model version by model name."""

    @property
    def repository_name(self) -> str:
        return "-".join(sorted(self.models))

    @property
    def version_tag(self) -> str:
        return _tag("-".join(self.versions[n] for n in sorted(self.models)))

    @property
    def digest(self) -> str:
        """The bundle's sha256; for several bundles, the sha256 of their sorted name/sha256 lines."""
        if len(self.models) == 1:
            return next(iter(self.models.values()))
        lines = "".join(f"{name} {self.models[name]}\n" for name in sorted(self.models))
        return hashlib.sha256(lines.encode()).hexdigest()

    @property
    def digest_tag(self) -> str:
        return f"sha256-{self.digest}"


@dataclass(frozen=True, slots=True)
class Pushed:
    references: tuple[str, ...]
    digest: str
    """The manifest digest the registry reported (``sha256:…``)."""

    @property
    def pinned(self) -> str:
        """A reference that names these exact bytes: ``REGISTRY/NAME@sha256:…``."""
        return self.references[0].rsplit(":", 1)[0] + "@" + self.digest


@dataclass(frozen=True, slots=True)
class Pulled:
    reference: str
    image_id: str
    digest: str | None


def _tag(text: str) -> str:
    tag = _TAG_INVALID.sub("-", text)[:128]
    return tag if tag and tag[0] not in ".-" else f"v{tag}"[:128]


def identity(client: Any, image: str) -> Identity:
    """Read the models and bundle digests from ``image``'s labels."""
    docker = engine.sdk()
    try:
        labels = client.images.get(image).attrs["Config"].get("Labels") or {}
    except docker.errors.ImageNotFound:
        raise DockerError(f"No image {image} on this engine.") from None
    names = [n for n in str(labels.get("io.dockyard.models", "")).split(",") if n]
    if not names:
        raise PackagingError(
            f"{image} is not a Dockyard model image: it has no io.dockyard.models label.",
            hint="Build it with 'dockyard build'.",
        )
    models: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name in names:
        digest = labels.get(f"io.dockyard.model.{name}.bundle-sha256")
        version = labels.get(f"io.dockyard.model.{name}.version")
        if not digest or not version:
            raise PackagingError(
                f"{image}'s labels name model {name} without its sha256 or version."
            )
        models[name], versions[name] = str(digest), str(version)
    return Identity(models, versions)


def check_registry(registry: str) -> str:
    """``HOST[:PORT][/PATH]`` as Docker references spell it."""
    if "://" in registry:
        raise PackagingError(
            f"Give the registry as HOST:PORT, not a URL: {registry!r}.",
            hint=f"For example --registry {registry.split('://', 1)[1].rstrip('/')}.",
        )
    registry = registry.rstrip("/")
    if not _REGISTRY.match(registry):
        raise PackagingError(f"{registry!r} is not a registry address (HOST:PORT[/PATH]).")
    return registry


def _split(reference: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@sha256:…`` → (repository, tag or digest)."""
    if "@" in reference:
        repository, digest = reference.split("@", 1)
        return repository, digest
    last = reference.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = reference.rsplit(":", 1)
        return repository, tag
    return reference, "latest"


def _hint(message: str, registry: str) -> str | None:
    lowered = message.lower()
    if any(word in lowered for word in ("unauthorized", "denied", "authentication required")):
        return f"Log in first with 'docker login {registry}'; Dockyard uses those credentials."
    if "server gave http response to https client" in lowered:
        return (
            f'{registry} speaks plain HTTP: add it to "insecure-registries" in the engine\'s '
            "daemon.json (127.0.0.0/8 is allowed by default), or give the registry TLS."
        )
    if any(w in lowered for w in ("connection refused", "no such host", "i/o timeout", "dial tcp")):
        return f"Is a registry running and reachable from the engine at {registry}?"
    return None


class _Layers:
    """One progress bar per layer, fed by the engine's JSON progress messages."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def update(self, chunk: dict[str, Any]) -> None:
        layer = chunk.get("id")
        status = str(chunk.get("status", ""))
        # Lines about the whole image ("1.0.0: Pulling from iris") are not layers.
        if not layer or not status or " " in str(layer) or status.startswith("Pulling from"):
            return
        task = self._tasks.get(layer)
        if task is None:
            task = self._progress.add_task(f"{layer} {status}", total=None, size="")
            self._tasks[layer] = task
        detail = chunk.get("progressDetail") or {}
        description = f"{layer} {status}"
        if detail.get("total"):
            current, total = int(detail.get("current", 0)), int(detail["total"])
            self._progress.update(
                task,
                description=description,
                # The engine's byte counts can overshoot its total (compressed vs not).
                completed=min(current, total),
                total=total,
                size=f"{total / 1e6:.1f} MB",
            )
        elif status in ("Pushed", "Layer already exists", "Pull complete", "Already exists"):
            done = self._progress.tasks[task].total or 1.0
            self._progress.update(task, description=description, total=done, completed=done)
        else:
            self._progress.update(task, description=description)


def _follow(
    chunks: Iterable[dict[str, Any]], layers: _Layers | None, *, what: str, registry: str
) -> Iterator[dict[str, Any]]:
    docker = engine.sdk()
    try:
        for chunk in chunks:
            if "error" in chunk:
                message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"])
                raise DockerError(
                    f"{what} failed: {message.strip()}", hint=_hint(message, registry)
                )
            if layers is not None:
                layers.update(chunk)
            yield chunk
    except docker.errors.APIError as exc:
        message = str(exc.explanation or exc)
        raise DockerError(f"{what} failed: {message}", hint=_hint(message, registry)) from None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.fields[size]}"),
        console=console,
        transient=False,
    )


def push(client: Any, image: str, registry: str, *, console: Console) -> Pushed:
    """Tag ``image`` for ``registry`` from its labels and push both tags; return where it went."""
    registry = check_registry(registry)
    who = identity(client, image)
    repository = f"{registry}/{who.repository_name}"
    tags = (who.version_tag, who.digest_tag)
    found = client.images.get(image)
    for tag in tags:
        found.tag(repository, tag)
    digests: list[str] = []
    with _progress(console) as progress:
        for index, tag in enumerate(tags):
            # The second tag names the same manifest: its layers are already there.
            layers = _Layers(progress) if index == 0 else None
            stream = client.api.push(repository, tag=tag, stream=True, decode=True)
            for chunk in _follow(
                stream, layers, what=f"Pushing {repository}:{tag}", registry=registry
            ):
                aux = chunk.get("aux") or {}
                if aux.get("Digest"):
                    digests.append(str(aux["Digest"]))
    if len(digests) != len(tags) or len(set(digests)) != 1:
        raise DockerError(
            f"The registry did not confirm one digest for {repository} (got {digests or 'none'})."
        )
    return Pushed(tuple(f"{repository}:{tag}" for tag in tags), digests[0])


def pull(client: Any, reference: str, *, console: Console) -> Pulled:
    """Pull ``reference`` (``REGISTRY/NAME:TAG`` or ``…@sha256:…``) with progress."""
    repository, tag = _split(reference)
    registry = repository.split("/", 1)[0] if "/" in repository else "docker.io"
    with _progress(console) as progress:
        stream = client.api.pull(repository, tag=tag, stream=True, decode=True)
        for _chunk in _follow(
            stream, _Layers(progress), what=f"Pulling {reference}", registry=registry
        ):
            pass
    docker = engine.sdk()
    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise DockerError(
            f"The engine reports {reference} pulled, yet it has no such image."
        ) from None
    digests = [d for d in image.attrs.get("RepoDigests") or [] if d.startswith(repository + "@")]
    return Pulled(reference, str(image.id), digests[0].split("@", 1)[1] if digests else None)

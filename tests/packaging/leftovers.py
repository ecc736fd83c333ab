"""The images a test session leaves on the Docker engine, and their removal.

The tests build, tag, pull and load images under their own names: ``dockyard-test/…``, and
``dockyard-train:…`` for ``dockyard train --in-container``. A rebuilt name leaves the image it
named before dangling, and a failed build its last step. Left on a reused machine, they filled
its disk (54 GB over repeated runs). What the engine held when the session began is kept,
whatever its name: the base images, a developer's own images, and a name that a test moved to
another image goes back to the one it named.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker

OURS = ("dockyard-test/", "dockyard-train:")
"""Name prefixes no image but the tests' carries."""

# Removing an image can fail (a container still uses it); a failure to reach the engine
# (requests' errors are OSErrors) is reported the same way, and neither fails the session.
FAILURES = (docker.errors.DockerException, OSError)


def ours(name: str) -> bool:
    return name.startswith(OURS)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The engine's images at one moment."""

    ids: frozenset[str]
    """Every image, the intermediate images of builds too."""
    names: Mapping[str, str]
    """The image each name (``repository:tag``) stands for."""


def snapshot(client: Any) -> Snapshot:
    ids, names = set(), {}
    for image in client.images.list(all=True):
        ids.add(image.id)
        names.update(dict.fromkeys(image.tags, image.id))
    return Snapshot(frozenset(ids), names)


@dataclass(slots=True)
class Cleaned:
    """What a clean-up removed, put back, left alone, and could not do."""

    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    """New names that are not the tests': a developer's, made while the tests ran."""
    failed: list[str] = field(default_factory=list)

    def __iadd__(self, other: Cleaned) -> Cleaned:
        self.removed += other.removed
        self.restored += other.restored
        self.foreign += other.foreign
        self.failed += other.failed
        return self


def remove_new_names(
    client: Any, before: Snapshot, *, keep: Collection[str] = (), prune: bool = True
) -> Cleaned:
    """Remove the tests' names that ``before`` did not have, except ``keep``. An image that
    loses its last name goes, with the layers no other image uses unless ``prune`` is false:
    then its build steps stay, as the cache of later builds, and go as dangling images."""
    cleaned = Cleaned()
    for image in client.images.list():
        for name in image.tags:
            if name in before.names or name in keep:
                continue
            if not ours(name):
                if image.id not in before.ids:
                    cleaned.foreign.append(name)
                continue
            try:
                client.images.remove(name, noprune=not prune)
            except FAILURES as exc:
                cleaned.failed.append(f"{name}: {exc}")
            else:
                cleaned.removed.append(name)
    return cleaned


def restore_names(client: Any, before: Snapshot) -> Cleaned:
    """Give the tests' names that a test moved to another image back to the image they
    named in ``before``, where it is still on the engine."""
    cleaned = Cleaned()
    now = snapshot(client).names
    for name, image_id in before.names.items():
        if not ours(name) or now.get(name) == image_id:
            continue
        repository, _, tag = name.rpartition(":")
        try:
            client.images.get(image_id).tag(repository, tag)
        except docker.errors.ImageNotFound:
            continue  # a test removed that image; nothing to give the name back to
        except FAILURES as exc:
            cleaned.failed.append(f"{name}: {exc}")
        else:
            cleaned.restored.append(name)
    return cleaned


def remove_dangling(client: Any, before: Snapshot) -> Cleaned:
    """Remove the images without a name that were not there in ``before``: the images whose
    name a rebuild took, and what failed builds left."""
    cleaned = Cleaned()
    for image in client.images.list(filters={"dangling": True}):
        if image.id in before.ids:
            continue
        try:
            client.images.remove(image.id)
        except FAILURES as exc:
            cleaned.failed.append(f"{image.short_id}: {exc}")
        else:
            cleaned.removed.append(image.short_id)
    return cleaned


def clean(client: Any, before: Snapshot) -> Cleaned:
    """Leave the engine's images as ``before`` found them, as far as the tests' doing goes."""
    cleaned = restore_names(client, before)
    cleaned += remove_new_names(client, before)
    cleaned += remove_dangling(client, before)
    return cleaned


def layers_size(client: Any) -> int:
    """The bytes all images' layers take on the engine's disk, each layer once."""
    return int(client.df()["LayersSize"])


SWARM_BRIDGE = "docker_gwbridge"


def leave_swarm(client: Any, *, bridge_before: bool) -> None:
    """Leave the swarm a test made this engine, and remove the bridge network that joining
    made (leaving keeps it) unless it was there before."""
    client.swarm.leave(force=True)
    if not bridge_before:
        for network in client.networks.list(names=[SWARM_BRIDGE]):
            if network.name == SWARM_BRIDGE:
                network.remove()


def has_swarm_bridge(client: Any) -> bool:
    return any(n.name == SWARM_BRIDGE for n in client.networks.list(names=[SWARM_BRIDGE]))


def others(client: Any) -> set[str]:
    """The engine's containers, volumes and networks, by kind and name."""
    return (
        {f"container {c.name}" for c in client.containers.list(all=True)}
        | {f"volume {v.name}" for v in client.volumes.list()}
        | {f"network {n.name}" for n in client.networks.list()}
    )


@dataclass(slots=True)
class Session:
    """One test session on the engine: what it found, and what its clean-ups did."""

    client: Any
    before: Snapshot
    size: int
    """:func:`layers_size` when the session began."""
    found: set[str]
    """:func:`others` when the session began."""
    held: set[str] = field(default_factory=set)
    """Names that session-scoped fixtures built, which later modules use."""
    cleaned: Cleaned = field(default_factory=Cleaned)
    report: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, client: Any) -> Session:
        return cls(client, snapshot(client), layers_size(client), others(client))

    def end_module(self, before: Snapshot | None) -> None:
        """Remove the names a module made (``before`` it began; None: the session's start)
        that no later module uses; their build steps stay, as the cache of later builds,
        until :meth:`end`."""
        # The build steps stay until the session ends: they are the cache that makes the
        # next module's images, built from the same wheels, take seconds instead of a minute.
        try:
            self.cleaned += remove_new_names(
                self.client, before or self.before, keep=self.held, prune=False
            )
        except FAILURES as exc:
            self.cleaned.failed.append(f"the clean-up after a module: {exc}")

    def end(self) -> None:
        """Leave the engine's images as they were found, and say what that took."""
        try:
            self.cleaned += clean(self.client, self.before)
            size = layers_size(self.client)
            left = others(self.client) - self.found
        except FAILURES as exc:
            self.cleaned.failed.append(f"the clean-up: {exc}")
            size, left = -1, set()
        done = self.cleaned
        after = "unknown" if size < 0 else f"{size / 1e6:.0f} MB"
        self.report = [
            f"removed {len(done.removed)} images or names the tests made, restored "
            f"{len(done.restored)} names; image layers: {self.size / 1e6:.0f} MB at the "
            f"start, {after} at the end",
            *(f"left alone, not the tests' name: {name}" for name in sorted(done.foreign)),
            *(f"could not remove {failure}" for failure in done.failed),
            *(f"not there when the session began: {thing}" for thing in sorted(left)),
        ]

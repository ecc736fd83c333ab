from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dockyard.errors import PackagingError
from dockyard.packaging import wheelhouse
from dockyard.packaging.lock import Lock, Pin, Target


def _lock_for(content: bytes, filename: str = "demo-1.0-py3-none-any.whl") -> Lock:
    digest = hashlib.sha256(content).hexdigest()
    return Lock(Target("3.11"), (Pin("demo", "1.0", digest, filename),))


def test_verified_wheels_are_used_without_downloading(tmp_path: Path) -> None:
    (tmp_path / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    files = wheelhouse.fetch(_lock_for(b"wheel bytes"), tmp_path, download=False)
    assert files == [tmp_path / "demo-1.0-py3-none-any.whl"]


def test_a_substituted_wheel_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo-1.0-py3-none-any.whl").write_bytes(b"something else")
    with pytest.raises(PackagingError, match="does not match the lock"):
        wheelhouse.fetch(_lock_for(b"wheel bytes"), tmp_path, download=False)


def test_a_missing_wheel_offline_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="lacks 1 locked wheel"):
        wheelhouse.fetch(_lock_for(b"wheel bytes"), tmp_path, download=False)


def test_place_links_or_copies(tmp_path: Path) -> None:
    source = tmp_path / "a.whl"
    source.write_bytes(b"x")
    wheelhouse.place([source], tmp_path / "ctx")
    assert (tmp_path / "ctx" / "a.whl").read_bytes() == b"x"


def test_dockyard_wheel_is_built_from_the_source_tree(tmp_path: Path) -> None:
    lock = wheelhouse.dockyard_wheel(Target("3.11"), tmp_path)
    (pin,) = lock.pins
    assert pin.name == "dockyard"
    wheel = tmp_path / pin.filename
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == pin.sha256
    # Reproducible: the same sources give the same bytes, so the image layer stays cached.
    again = wheelhouse.dockyard_wheel(Target("3.11"), tmp_path / "again")
    assert again.pins[0].sha256 == pin.sha256


def test_the_source_tree_is_the_running_codes_own() -> None:
    # Run from a git worktree (PYTHONPATH=its src) while pip's editable install points at
    # another checkout: images must hold the code that runs, not the other checkout's.
    import dockyard
    from dockyard.packaging.pip import source_tree

    tree = source_tree()
    assert tree is not None
    assert Path(dockyard.__file__).resolve().is_relative_to(tree / "src")

"""A test session leaves the engine's images as it found them: what it built goes, what was
there stays (tests/packaging/leftovers.py)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.packaging import leftovers

pytestmark = pytest.mark.docker

ROOT = Path(__file__).parents[2]


def _tiny(client: Any, base_image: str, tag: str | None = None) -> str:
    """A one-label image on the base, unlike any other (no cached step gives it an old id)."""
    dockerfile = f"FROM {base_image}\nLABEL io.dockyard.test.leftovers={uuid.uuid4().hex}\n"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    archive.seek(0)
    image, _ = client.images.build(
        fileobj=archive, custom_context=True, tag=tag, network_mode="none", rm=True, forcerm=True
    )
    return str(image.id)


def _exists(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


@pytest.fixture
def made(docker_client: Any) -> Iterator[list[str]]:
    """Images the test makes itself, by name or id; removed after it, whatever it left."""
    refs: list[str] = []
    yield refs
    for ref in refs:
        if _exists(docker_client, ref):
            docker_client.images.remove(ref, force=True)


def test_the_clean_up_removes_what_was_made_and_keeps_what_was_there(
    docker_client: Any, base_image: str, made: list[str]
) -> None:
    client = docker_client
    ours_before = _tiny(client, base_image, "dockyard-test/leftovers:before")
    own = _tiny(client, base_image, "leftovers-developer:own")
    made += ["dockyard-test/leftovers:before", "leftovers-developer:own"]
    before = leftovers.snapshot(client)

    built = _tiny(client, base_image, "dockyard-test/leftovers:built")
    moved = _tiny(client, base_image, "dockyard-test/leftovers:before")  # a rebuild takes the name
    unnamed = _tiny(client, base_image)
    foreign = _tiny(client, base_image, "leftovers-developer:new")
    made += [built, moved, unnamed, "leftovers-developer:new"]

    cleaned = leftovers.clean(client, before)

    for image_id in (built, moved, unnamed):
        assert not _exists(client, image_id)
    assert client.images.get("dockyard-test/leftovers:before").id == ours_before
    assert cleaned.restored == ["dockyard-test/leftovers:before"]
    assert client.images.get("leftovers-developer:own").id == own
    assert client.images.get("leftovers-developer:new").id == foreign
    assert cleaned.foreign == ["leftovers-developer:new"]
    assert _exists(client, base_image)
    assert cleaned.failed == []


def test_a_held_name_stays_and_a_removal_that_fails_is_reported(
    docker_client: Any, base_image: str, made: list[str]
) -> None:
    client = docker_client
    before = leftovers.snapshot(client)
    _tiny(client, base_image, "dockyard-test/leftovers:held")
    used = _tiny(client, base_image, "dockyard-test/leftovers:used")
    made += ["dockyard-test/leftovers:held", used]
    container = client.containers.create(used, ["true"])
    try:
        cleaned = leftovers.remove_new_names(client, before, keep={"dockyard-test/leftovers:held"})
    finally:
        container.remove(force=True)
    assert _exists(client, "dockyard-test/leftovers:held")
    [failure] = cleaned.failed
    assert failure.startswith("dockyard-test/leftovers:used: ")
    assert "container" in failure


_SESSION = """
from tests.packaging.test_leftovers import _tiny

def test_builds(docker_client, base_image):
    print("unnamed", _tiny(docker_client, base_image))
    _tiny(docker_client, base_image, "dockyard-test/leftovers:inner")
"""


def test_a_session_that_built_images_leaves_none_and_says_so(
    docker_client: Any, base_image: str, made: list[str], tmp_path: Path
) -> None:
    """A whole pytest session, with the fixture every Docker test uses."""
    client = docker_client
    kept = _tiny(client, base_image, "dockyard-test/leftovers:outer")
    made.append(kept)
    (tmp_path / "test_session.py").write_text(textwrap.dedent(_SESSION), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.packaging.conftest",
            "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-s",
            str(tmp_path / "test_session.py"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [unnamed] = re.findall(r"unnamed (sha256:[0-9a-f]+)", done.stdout)
    made += [unnamed, "dockyard-test/leftovers:inner"]
    assert not _exists(client, "dockyard-test/leftovers:inner")
    assert not _exists(client, unnamed)
    assert client.images.get("dockyard-test/leftovers:outer").id == kept
    assert "images on the Docker engine" in done.stdout
    assert "removed 2 images or names the tests made" in done.stdout

"""Share through a real registry: push, remove, pull, run, predict; verify; refuse tampering."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.cli.main import main
from dockyard.errors import PackagingError
from dockyard.packaging import engine
from dockyard.packaging import registry as registries
from dockyard.packaging.verification import VerificationFailed, verify_image
from tests.packaging import served

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(autouse=True, scope="module")
def _untag_pushed(docker_client: Any, registry: str) -> Iterator[None]:
    yield
    # The registry dies with the session; its names on the engine go with it.
    for image in docker_client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{registry}/"):
                docker_client.images.remove(tag)


def _tags_in(registry: str, repository: str) -> set[str]:
    status, body = served.request(f"http://{registry}", path=f"/v2/{repository}/tags/list")
    assert status == 200, body
    return set(body["tags"])


def test_push_remove_pull_run_predict(
    docker_client: Any,
    iris_image: engine.Built,
    iris_bundle: Path,
    registry: str,
    containers: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    digest = dockyard.bundle_digest(iris_bundle)
    assert main(["push", iris_image.tag, "--registry", registry]) == 0
    pushed = capsys.readouterr().out
    version_ref, digest_ref = f"{registry}/iris:1.0.0", f"{registry}/iris:sha256-{digest}"
    assert version_ref in pushed
    assert digest_ref in pushed
    assert f"{registry}/iris@sha256:" in pushed
    assert _tags_in(registry, "iris") == {"1.0.0", f"sha256-{digest}"}

    # Remove every local name of the image (reproducible builds give other tests' images the
    # same ID), so the pull has to download it.
    image = docker_client.images.get(iris_image.tag)
    names = list(image.tags)
    for ref in names:
        docker_client.images.remove(ref)
    assert not [i for i in docker_client.images.list() if i.id == image.id]
    try:
        assert main(["pull", version_ref]) == 0
        pulled = capsys.readouterr().out
        assert f"image {image.id}" in pulled  # the same image, byte for byte
        assert f"Verified iris 1.0.0: bundle sha256 {digest}" in pulled
    finally:
        # Later tests use the image under its other names.
        if docker_client.images.list(filters={"reference": version_ref}):
            for ref in names:
                docker_client.images.get(version_ref).tag(ref)

    served.assert_serves_like_local(docker_client, version_ref, iris_bundle, containers)


def test_pull_by_digest_tag_and_verify(
    docker_client: Any, iris_image: engine.Built, iris_bundle: Path, registry: str
) -> None:
    pushed = registries.push(docker_client, iris_image.tag, registry, console=served.console())
    assert pushed.digest.startswith("sha256:")
    assert pushed.pinned == f"{registry}/iris@{pushed.digest}"
    pulled = registries.pull(docker_client, pushed.pinned, console=served.console())
    assert pulled.digest == pushed.digest
    [check] = verify_image(docker_client, pushed.references[1])
    assert check.ok
    assert check.sha256 == dockyard.bundle_digest(iris_bundle)
    assert check.files == len(dockyard.read_metadata(iris_bundle).files)


def _tampered(docker_client: Any, image: str, files: dict[str, bytes], tag: str) -> str:
    """A derived image with the same labels and some bundle files replaced or added."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    container = docker_client.containers.create(image)
    try:
        assert container.put_archive("/models/iris", buffer.getvalue())
        container.commit(repository="dockyard-test/iris", tag=tag)
    finally:
        container.remove(force=True)
    return f"dockyard-test/iris:{tag}"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("model", "model.skops has sha256"),
        ("metadata", "bundle.json has sha256"),
        ("extra", "extra.py is not part of the bundle"),
    ],
)
def test_a_tampered_image_fails_verify(
    docker_client: Any,
    iris_image: engine.Built,
    iris_bundle: Path,
    change: str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if change == "model":
        files = {"model.skops": (iris_bundle / "model.skops").read_bytes() + b"\0"}
    elif change == "metadata":
        meta = json.loads((iris_bundle / "bundle.json").read_bytes())
        files = {"bundle.json": json.dumps({**meta, "description": "changed"}).encode()}
    else:
        files = {"extra.py": b"print('hello')\n"}
    image = _tampered(docker_client, iris_image.tag, files, f"tampered-{change}")
    try:
        labels = docker_client.images.get(image).attrs["Config"]["Labels"]
        assert labels["io.dockyard.bundle.sha256"] == dockyard.bundle_digest(iris_bundle)
        with pytest.raises(VerificationFailed, match=reason):
            verify_image(docker_client, image)
        assert main(["verify", image]) == VerificationFailed.exit_code
        assert "does not match its labels" in capsys.readouterr().err
    finally:
        docker_client.images.remove(image, force=True)


def test_an_image_without_dockyard_labels_is_refused(docker_client: Any, base_image: str) -> None:
    with pytest.raises(PackagingError, match="not a Dockyard model image"):
        registries.push(docker_client, base_image, "127.0.0.1:5000", console=served.console())

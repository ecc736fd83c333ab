"""Real images on a real engine: build, run, stop, rebuild, compose, save/load, train."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import dockyard
from dockyard.errors import DockerError
from dockyard.packaging import engine
from dockyard.packaging.images import build_image
from dockyard.packaging.training import train_in_container
from dockyard.packaging.wheelhouse import default_wheelhouse
from tests.packaging import served
from tests.processes import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# 'pip install numpy scipy scikit-learn pandas flask' with the wheels copied in adds this
# much to the same base image (measured, see docs/containers.md); Dockyard must add at most half.
TUTORIAL_ADDED_BYTES = 455e6
# What a bundle that records its ONNX export adds on top: onnxruntime, which serves it
# (measured: 33 MB for the iris image, docs/reproducibility.md).
ONNX_RUNTIME_BYTES = 35e6
# And the prediction log's PostgreSQL driver, which the server needs to log there (compose
# with a database): psycopg with its binary build and the libpq in its wheel (10.4 MB
# measured; a slim image leaves it out and logs to SQLite).
POSTGRES_DRIVER_BYTES = 11e6


def test_image_is_small_hardened_and_labelled(
    docker_client: Any, iris_image: engine.Built, iris_bundle: Path
) -> None:
    assert iris_image.base_size is not None
    added = iris_image.size - iris_image.base_size
    allowed = TUTORIAL_ADDED_BYTES / 2 + ONNX_RUNTIME_BYTES + POSTGRES_DRIVER_BYTES
    assert added <= allowed, f"image adds {engine.mb(added)}"
    config = docker_client.images.get(iris_image.tag).attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    assert config["Labels"]["io.dockyard.bundle.sha256"] == dockyard.bundle_digest(iris_bundle)
    assert config["Labels"]["org.opencontainers.image.title"] == "iris"
    # The bundle records its verified ONNX export: the full image serves it with that, and
    # keeps scikit-learn for an explicit DOCKYARD_RUNTIME=sklearn.
    assert config["Labels"]["io.dockyard.runtime"] == "onnx"
    assert config["Labels"]["io.dockyard.model.iris.runtime"] == "onnx"
    assert "DOCKYARD_RUNTIME=onnx" in config["Env"]
    listing = served.python_in(
        docker_client,
        iris_image.tag,
        "import importlib.util as u, sklearn.ensemble, skops.io, onnxruntime; "
        "print(*(u.find_spec(m) for m in ('pandas', 'pip', 'skl2onnx')))",
    )
    assert listing.split() == ["None"] * 3


def test_container_serves_the_local_predictions(
    docker_client: Any, iris_image: engine.Built, iris_bundle: Path, containers: list[Any]
) -> None:
    records = served.records(iris_bundle)
    container, url = engine.run(docker_client, iris_image.tag, port=None)
    containers.append(container)
    answer, first_prediction = served.first_prediction(url, "iris", records, since=time.monotonic())
    print(f"container start → first prediction: {first_prediction:.2f} s")
    # The target is 2 s (docs/containers.md has the measured figure); the guard leaves room
    # for a loaded 2-core CI machine without hiding a regression.
    assert first_prediction < 10
    served.assert_same(answer, served.local(iris_bundle, records))
    assert answer["model"] == "iris"
    # Read-only root filesystem (engine.run sets it) and still healthy by its own check.
    assert docker_client.api.inspect_container(container.id)["HostConfig"]["ReadonlyRootfs"] is True
    exit_code, _ = container.exec_run(
        ["python", "-I", "/opt/venv/lib/python3.11/site-packages/dockyard/packaging/healthcheck.py"]
    )
    assert exit_code == 0
    stopping = time.monotonic()
    container.stop(timeout=20)
    assert time.monotonic() - stopping < 10, "SIGTERM did not stop the server promptly"
    assert container.wait()["StatusCode"] == 0


def test_rebuild_after_retraining_reuses_dependency_layers(
    docker_client: Any, base_image: str, iris_image: engine.Built, iris_bundle: Path, tmp_path: Path
) -> None:
    # Warm the cache with the current sources first, so only the retrained bundle differs.
    build_image(
        [iris_bundle],
        console=served.console(),
        tag=iris_image.tag,
        base_image=base_image,
        offline=True,
        client=docker_client,
    )
    retrained = tmp_path / "iris"
    dockyard.train_example("iris", retrained, version="1.0.1")
    output = io.StringIO()
    started = time.monotonic()
    rebuilt = build_image(
        [retrained], console=Console(file=output, width=200), tag="dockyard-test/iris:e2e-retrained",
        base_image=base_image, offline=True, client=docker_client,
    )  # fmt: skip
    seconds = time.monotonic() - started
    print(f"rebuild after retraining: {seconds:.1f} s")
    # Every step before the bundle's comes from the cache (the time is for the log only:
    # timings belong in bench/).
    assert output.getvalue().count("cached") >= 6
    labels = docker_client.images.get(rebuilt.tag).attrs["Config"]["Labels"]
    assert labels["io.dockyard.model.version"] == "1.0.1"
    assert labels["io.dockyard.bundle.sha256"] == dockyard.bundle_digest(retrained)


def test_compose_brings_up_two_models(
    docker_client: Any, base_image: str, iris_bundle: Path, wine_bundle: Path, tmp_path: Path
) -> None:
    from dockyard.packaging.compose import Service, render

    compose_bin = shutil.which("docker-compose")
    if compose_bin is None:
        pytest.fail("docker-compose is not installed (scripts/ci-system installs it)")
    services = []
    for bundle in (iris_bundle, wine_bundle):
        meta = dockyard.read_metadata(bundle)
        tag = f"dockyard-test/{meta.name}:compose"
        build_image(
            [bundle],
            console=served.console(),
            tag=tag,
            base_image=base_image,
            offline=True,
            client=docker_client,
        )
        services.append(Service(meta.name, tag, free_port(), "3.11"))
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text(render(services))
    command = [compose_bin, "-f", str(compose_file), "-p", "dockyardtest"]
    subprocess.run([*command, "up", "-d"], check=True, capture_output=True)
    try:
        for service, bundle in zip(services, (iris_bundle, wine_bundle), strict=True):
            url = f"http://127.0.0.1:{service.host_port}"
            engine.wait_ready(url, timeout=60)
            records = served.records(bundle)
            served.assert_same(
                served.predict(url, service.name, records), served.local(bundle, records)
            )
    finally:
        subprocess.run([*command, "down", "--timeout", "20"], check=True, capture_output=True)
    assert not docker_client.containers.list(
        all=True, filters={"label": "com.docker.compose.project=dockyardtest"}
    )


def test_save_remove_load_run(
    docker_client: Any,
    iris_image: engine.Built,
    iris_bundle: Path,
    tmp_path: Path,
    containers: list[Any],
) -> None:
    tar = tmp_path / "iris.tar"
    engine.save(docker_client, iris_image.tag, tar)
    corrupted = tmp_path / "corrupted.tar"
    data = bytearray(tar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    shutil.copyfile(engine.sha256_path(tar), engine.sha256_path(corrupted))
    with pytest.raises(DockerError, match="corrupted"):
        engine.load(docker_client, corrupted)
    docker_client.images.remove(iris_image.tag)
    assert iris_image.tag in engine.load(docker_client, tar)
    served.assert_serves_like_local(docker_client, iris_image.tag, iris_bundle, containers)


def test_train_in_container_matches_local_training(
    docker_client: Any, base_image: str, iris_bundle: Path, tmp_path: Path, containers: list[Any]
) -> None:
    out = tmp_path / "trained" / "iris"
    train_in_container(
        "iris",
        out,
        base_image=base_image,
        wheelhouse=default_wheelhouse(),
        version="1.0.0",
        console=Console(stderr=True),
    )
    assert out.stat().st_uid == os.getuid()
    meta = dockyard.read_metadata(out)
    assert (
        meta.environment.packages["scikit-learn"]
        == dockyard.read_metadata(iris_bundle).environment.packages["scikit-learn"]
    )
    image = build_image(
        [out], console=served.console(), tag="dockyard-test/iris:trained-in-container", base_image=base_image,
        offline=True, client=docker_client,
    )  # fmt: skip
    served.assert_serves_like_local(docker_client, image.tag, iris_bundle, containers)


def test_serves_read_only_without_capabilities_as_non_root(
    docker_client: Any, iris_image: engine.Built, iris_bundle: Path, containers: list[Any]
) -> None:
    # The flags spelled out as a user would give them to 'docker run', not engine.run's.
    assert docker_client.images.get(iris_image.tag).attrs["Config"]["User"] == "10001:10001"
    container = docker_client.containers.run(
        iris_image.tag,
        detach=True,
        read_only=True,
        tmpfs={"/tmp": "rw,nosuid,nodev,size=64m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        ports={"8000/tcp": ("127.0.0.1", None)},
    )
    containers.append(container)
    container.reload()
    host = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    port = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
    url = f"http://127.0.0.1:{port}"
    engine.wait_ready(url, timeout=60, container=container)
    records = served.records(iris_bundle)
    served.assert_same(served.predict(url, "iris", records), served.local(iris_bundle, records))

    def inside(*argv: str) -> str:
        code, output = container.exec_run(list(argv))
        assert code == 0, output
        return str(output.decode()).strip()

    assert inside("id", "-u") == "10001"
    assert inside("id", "-g") == "10001"
    # What the kernel enforces on the server process itself (PID 1).
    status = dict(
        line.split(":", 1) for line in inside("cat", "/proc/1/status").splitlines() if ":" in line
    )
    assert status["Uid"].split()[0] == "10001"
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    code, output = container.exec_run(["touch", "/models/iris/written"])
    assert code != 0
    assert b"Read-only file system" in output

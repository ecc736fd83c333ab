"""Swarm stacks: the document's rollout semantics, its validation by the docker CLI, and a
real swarm on this machine: two models with two replicas each, a rolling update under
load, and a broken version rolled back.

The ingress mesh and service VIPs do not route in every sandbox; ``endpoint_mode: dnsrr``
on the attachable overlay does, so the load comes from a container on that network that
spreads its requests over every task's address.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dockyard
from dockyard.cli.main import main
from dockyard.packaging import swarm
from dockyard.packaging.swarm import Health, ModelService
from tests.conftest import missing_prerequisite
from tests.packaging import leftovers, served

STACK = "dytest"


def _services(**options: Any) -> list[ModelService]:
    return [
        ModelService("iris", "iris:1.0.0", "1.0.0", **options),
        ModelService("wine", "wine:1.0.0", "1.0.0", publish=None),
    ]


def test_each_service_rolls_out_one_task_at_a_time_and_rolls_back() -> None:
    document = swarm.stack(_services(health=Health(start_period=40, interval=5, retries=3)))
    iris = document["services"]["iris"]  # type: ignore[index]
    deploy = iris["deploy"]
    update, rollback = deploy["update_config"], deploy["rollback_config"]
    assert (update["parallelism"], update["order"], update["failure_action"]) == (
        1,
        "start-first",
        "rollback",
    )
    assert (rollback["parallelism"], rollback["order"]) == (1, "start-first")
    # The monitor outlasts the start period plus the retries: a task that never gets
    # healthy fails inside the window, so the update fails (and rolls back).
    assert float(update["monitor"].rstrip("s")) > 40 + 5 * 3
    assert deploy["restart_policy"]["condition"] == "any"
    assert deploy["resources"]["limits"]
    assert deploy["resources"]["reservations"]
    # Stop grace covers the server's drain plus its graceful timeout.
    env = iris["environment"]
    grace = float(iris["stop_grace_period"].rstrip("s"))
    assert grace > float(env["DOCKYARD_DRAIN_SECONDS"]) + float(env["DOCKYARD_GRACEFUL_TIMEOUT"])
    assert iris["read_only"] is True
    assert iris["cap_drop"] == ["ALL"]
    assert "test" not in iris["healthcheck"]  # the image's own check, with these timings
    assert document["networks"]["models"]["attachable"] is True  # type: ignore[index]


def test_the_api_key_is_a_secret_never_in_the_file() -> None:
    text = swarm.render(_services(api_key_secret="iris-key"))
    document = swarm.stack(_services(api_key_secret="iris-key"))
    assert document["secrets"] == {"iris-key": {"external": True}}
    iris = document["services"]["iris"]  # type: ignore[index]
    assert iris["environment"]["DOCKYARD_API_KEY_FILE"] == "/run/secrets/iris-key"
    assert iris["secrets"][0]["source"] == "iris-key"
    assert "DOCKYARD_API_KEY:" not in text
    assert 'DOCKYARD_API_KEY"' not in text


def test_publishing_follows_the_endpoint_mode() -> None:
    vip = swarm.stack(_services(publish=8000))["services"]["iris"]  # type: ignore[index]
    dnsrr = swarm.stack(_services(publish=8000), endpoint_mode="dnsrr")["services"]["iris"]  # type: ignore[index]
    assert vip["ports"][0]["mode"] == "ingress"
    assert dnsrr["ports"][0]["mode"] == "host"  # the mesh needs a VIP
    assert dnsrr["deploy"]["endpoint_mode"] == "dnsrr"


def test_two_services_cannot_share_a_name() -> None:
    twice = [ModelService("iris", "a", "1"), ModelService("iris", "b", "2")]
    with pytest.raises(ValueError, match="same name"):
        swarm.stack(twice)


@pytest.mark.docker
def test_the_docker_cli_accepts_the_stack(
    iris_bundle: Path, wine_bundle: Path, tmp_path: Path
) -> None:
    docker = shutil.which("docker")
    if docker is None:
        missing_prerequisite("no docker command-line client")
    out = tmp_path / "stack.yaml"
    args = ["stack", str(iris_bundle), str(wine_bundle), "--no-build", "-o", str(out)]
    assert main([*args, "--port", "9000", "--api-key-secret", "key"]) == 0
    done = subprocess.run(
        [docker, "stack", "config", "--compose-file", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "order: start-first" in done.stdout
    assert "failure_action: rollback" in done.stdout


# --- a real swarm --------------------------------------------------------------------

_LOAD = r"""
import http.client, json, signal, socket, sys, time
stop = False
def halt(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, halt)
ok = 0; errors = []; versions = []; began = time.monotonic()
for i in range(200_000):
    if stop or time.monotonic() - began > 600:
        break
    try:
        addresses = sorted({a[4][0] for a in socket.getaddrinfo("iris", 8000, proto=socket.IPPROTO_TCP)})
    except OSError as exc:
        errors.append(f"dns: {exc}"); time.sleep(0.1); continue
    address = addresses[i % len(addresses)]
    connection = http.client.HTTPConnection(address, 8000, timeout=10)
    try:
        connection.request("POST", "/v1/models/iris/predict", body=sys.argv[1],
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status == 200:
            ok += 1; versions.append(body["version"])
        else:
            errors.append(f"{address}: HTTP {response.status}")
    except (OSError, http.client.HTTPException) as exc:
        errors.append(f"{address}: {type(exc).__name__}: {exc}")
    finally:
        connection.close()
    time.sleep(0.02)
print(json.dumps({"ok": ok, "errors": errors, "last": versions[-20:], "first": versions[:20]}))
"""


@pytest.fixture(scope="module")
def swarm_node(docker_client: Any) -> Iterator[Any]:
    """This engine as a one-node swarm, left again at the end if the test made it one."""
    import docker

    state = docker_client.info().get("Swarm", {}).get("LocalNodeState")
    joined = state != "active"
    bridge = leftovers.has_swarm_bridge(docker_client)
    if joined:
        docker_client.swarm.init(advertise_addr="127.0.0.1")
    try:
        yield docker_client
    finally:
        for service in docker_client.services.list(
            filters={"label": f"com.docker.stack.namespace={STACK}"}
        ):
            service.remove()
        # Exited tasks too: a container left holds its image, which then cannot be removed.
        deadline = time.monotonic() + 60
        # sparse: a full list inspects each container, and one removed between the list
        # and its inspection would fail the teardown.
        while time.monotonic() < deadline and docker_client.containers.list(
            all=True, sparse=True, filters={"label": f"com.docker.stack.namespace={STACK}"}
        ):
            time.sleep(1)
        for network in docker_client.networks.list(names=[swarm.NETWORK]):
            with contextlib.suppress(docker.errors.APIError):  # leaving the swarm removes it
                network.remove()
        if joined:
            leftovers.leave_swarm(docker_client, bridge_before=bridge)


def _image(client: Any, bundle: Path, tag: str, base_image: str) -> str:
    from dockyard.packaging.images import build_image

    build_image(
        [bundle], console=served.console(), tag=tag, base_image=base_image, offline=True,
        client=client,
    )  # fmt: skip
    return tag


def _broken(client: Any, parent: str, tag: str) -> str:
    # The same server, but its health check asks another port: it never turns healthy.
    dockerfile = (
        f"FROM {parent}\nENV PORT=9\nLABEL io.dockyard.model.iris.version=1.2.0\n"
    ).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    archive.seek(0)
    # rm: the SDK keeps a build's intermediate containers unless told (the CLI removes them).
    client.images.build(
        fileobj=archive, custom_context=True, tag=tag, network_mode="none", rm=True, forcerm=True
    )
    return tag


def _deploy(image: str, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(
        [
            "deploy",
            "--to",
            "swarm",
            "--image",
            image,
            "--name",
            name,
            "--stack",
            STACK,
            "--endpoint-mode",
            "dnsrr",
            "--resolve-image",
            "never",
            "--replicas",
            "2",
            "--health-start-period",
            "15",
            "--health-interval",
            "2",
            "--timeout",
            "400",
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.docker
@pytest.mark.slow
def test_rolling_update_under_load_and_automatic_rollback(
    swarm_node: Any,
    base_image: str,
    iris_bundle: Path,
    wine_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = swarm_node
    dockyard.train_example("iris", tmp_path / "iris-1.1.0", version="1.1.0")
    v1 = _image(client, iris_bundle, "dockyard-test/swarm-iris:1.0.0", base_image)
    v2 = _image(client, tmp_path / "iris-1.1.0", "dockyard-test/swarm-iris:1.1.0", base_image)
    wine = _image(client, wine_bundle, "dockyard-test/swarm-wine:1.0.0", base_image)
    broken = _broken(client, v2, "dockyard-test/swarm-iris:1.2.0-broken")

    # Two models, two replicas each.
    for image, name in ((v1, "iris"), (wine, "wine")):
        code, said = _deploy(image, name, capsys)
        assert code == 0, said
        assert "2/2 replicas on 1.0.0" in said
    for name in ("iris", "wine"):
        tasks = client.api.tasks(filters={"service": f"{STACK}_{name}", "desired-state": "running"})
        assert len(tasks) == 2

    # A rolling update to 1.1.0 while a client on the overlay keeps predicting.
    body = json.dumps(
        {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    )
    load = client.containers.run(
        v1, ["-c", _LOAD, body], entrypoint=["python"], network=swarm.NETWORK, detach=True,
        read_only=True, cap_drop=["ALL"], labels={"com.docker.stack.namespace": STACK},
    )  # fmt: skip
    try:
        time.sleep(3)
        code, said = _deploy(v2, "iris", capsys)
        assert code == 0, said
        assert "2/2 replicas on 1.1.0" in said
        time.sleep(3)
        load.kill(signal="SIGTERM")
        load.wait(timeout=60)
        report = json.loads(load.logs(stdout=True, stderr=False).decode().strip().splitlines()[-1])
    finally:
        load.remove(force=True)
    print(f"rolling update under load: {report['ok']} answered, {len(report['errors'])} failed")
    assert report["ok"] > 50
    assert report["errors"] == [], report["errors"][:10]
    assert set(report["first"]) == {"1.0.0"}
    assert set(report["last"]) == {"1.1.0"}
    images = {
        t["Spec"]["ContainerSpec"]["Image"].split("@")[0]
        for t in client.api.tasks(filters={"service": f"{STACK}_iris", "desired-state": "running"})
    }
    assert images == {v2}

    # A version whose health check fails is rolled back by Swarm; the command says so.
    code, said = _deploy(broken, "iris", capsys)
    assert code == 5, said
    assert "1.2.0 failed" in said
    assert "unhealthy" in said
    assert "1.1.0 is serving" in said
    service = client.api.inspect_service(f"{STACK}_iris")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0] == v2

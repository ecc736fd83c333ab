"""``dockyard stack --database postgres``: a Swarm stack with PostgreSQL, its password a secret."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

import dockyard
from dockyard.cli.main import main
from dockyard.errors import ExitCode, UsageError
from dockyard.packaging import database, engine, rollout, swarm
from dockyard.packaging.images import build_image
from dockyard.packaging.swarm import Health, ModelService, StackDatabase
from tests.conftest import missing_prerequisite
from tests.packaging import leftovers, served
from tests.packaging.postgres import stand_in_image
from tests.processes import free_port

SECRET = "/run/secrets/dockyard-postgres-password"
PGPASS = "/run/secrets/dockyard-postgres-pgpass"


def _stack(**options: Any) -> dict[str, Any]:
    services = [
        ModelService("iris", "iris:1.0.0", "1.0.0", api_key_secret="iris-key"),
        ModelService("wine", "wine:1.0.0", "1.0.0"),
    ]
    return swarm.stack(services, **options)


def test_the_database_is_one_pinned_task_its_password_a_secret() -> None:
    document = _stack(
        db=StackDatabase("stack.postgres.password", "stack.postgres.pgpass", "example/pg:17")
    )
    db = document["services"]["db"]
    assert db["image"] == "example/pg:17"
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == SECRET
    assert "POSTGRES_PASSWORD" not in db["environment"]
    # The image's entrypoint reads the secret as root, before it drops privileges.
    assert db["secrets"] == [
        {
            "source": "dockyard-postgres-password",
            "target": "dockyard-postgres-password",
            "uid": "0",
            "gid": "0",
            "mode": 0o400,
        }
    ]
    assert db["volumes"] == ["dockyard-postgres:/var/lib/postgresql/data"]
    assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    deploy = db["deploy"]
    assert deploy["replicas"] == 1
    assert deploy["placement"]["constraints"] == ["node.labels.io.dockyard.postgres == true"]
    assert deploy["update_config"]["order"] == "stop-first"
    assert document["volumes"] == {"dockyard-postgres": {}}
    assert document["secrets"] == {
        "iris-key": {"external": True},
        "dockyard-postgres-password": {"file": "stack.postgres.password"},
        "dockyard-postgres-pgpass": {"file": "stack.postgres.pgpass"},
    }
    for name in ("iris", "wine"):
        model = document["services"][name]
        environment = model["environment"]
        # No password in the URL: libpq finds it in PGPASSFILE.
        assert environment["DOCKYARD_PREDICTION_LOG"] == "postgresql://dockyard@db:5432/dockyard"
        assert environment["PGPASSFILE"] == PGPASS
        pgpass = next(s for s in model["secrets"] if s["source"] == "dockyard-postgres-pgpass")
        # libpq ignores a password file that group or others may read.
        assert (pgpass["uid"], pgpass["mode"]) == ("10001", 0o400)
    # The API key secret is still there beside it; the bare password is the database's only.
    assert [s["source"] for s in document["services"]["iris"]["secrets"]] == [
        "iris-key",
        "dockyard-postgres-pgpass",
    ]


def test_without_a_database_the_stack_is_as_before() -> None:
    document = _stack()
    assert set(document["services"]) == {"iris", "wine"}
    assert "volumes" not in document
    assert document["secrets"] == {"iris-key": {"external": True}}
    assert "DOCKYARD_PREDICTION_LOG" not in document["services"]["wine"]["environment"]
    assert "secrets" not in document["services"]["wine"]


def test_a_model_named_like_the_database_is_refused() -> None:
    with pytest.raises(UsageError, match="named 'db'"):
        swarm.stack([ModelService("db", "db:1", "1")], db=StackDatabase("x", "y"))


def test_the_password_file_is_private_random_and_kept(tmp_path: Path) -> None:
    path = database.password_file_for(tmp_path / "stack.yaml")
    assert path == tmp_path / "stack.postgres.password"
    twin = database.pgpass_file_for(path)
    assert twin == tmp_path / "stack.postgres.pgpass"
    first = database.password_file(path)
    assert first.created
    for written in (path, twin):
        assert stat.S_IMODE(written.stat().st_mode) == 0o600
    # The secret is the password and nothing else: no newline, no variable name.
    assert path.read_text(encoding="utf-8") == first.password
    assert twin.read_text(encoding="utf-8") == f"db:5432:dockyard:dockyard:{first.password}\n"
    twin.unlink()
    again = database.password_file(path)
    assert (again.created, again.password) == (False, first.password)
    assert twin.read_text(encoding="utf-8") == f"db:5432:dockyard:dockyard:{first.password}\n"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(UsageError, match="is empty"):
        database.password_file(path)


def test_the_pgpass_file_escapes_its_separator() -> None:
    assert database.pgpass("a:b\\c") == "db:5432:dockyard:dockyard:a\\:b\\\\c\n"


def test_cli_refuses_an_unknown_database(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "stack.yaml"
    args = ["stack", str(iris_bundle), "--no-build", "-o", str(output)]
    assert main([*args, "--database", "mysql"]) == ExitCode.USAGE
    assert main([*args, "--postgres-image", "pg:17"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "Invalid value for '--database'" in err
    assert "--postgres-image goes with --database postgres" in err
    assert not output.exists()


@pytest.mark.docker
def test_the_docker_cli_accepts_the_stack_with_its_database(
    iris_bundle: Path,
    wine_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docker = shutil.which("docker")
    if docker is None:
        missing_prerequisite("no docker command-line client")
    monkeypatch.chdir(tmp_path)
    args = ["stack", str(iris_bundle), str(wine_bundle), "--no-build", "-o", "stack.yaml"]
    assert main([*args, "--database", "postgres", "--endpoint-mode", "dnsrr"]) == 0
    assert "Wrote stack.postgres.password (mode 0600)" in capsys.readouterr().out
    password = Path("stack.postgres.password").read_text(encoding="utf-8")
    assert password not in Path("stack.yaml").read_text(encoding="utf-8")
    done = subprocess.run(
        [docker, "stack", "config", "--compose-file", "stack.yaml"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["services"]["db"]["deploy"]["update_config"]["order"] == "stop-first"
    assert config["secrets"]["dockyard-postgres-password"]["file"].endswith(
        "stack.postgres.password"
    )
    assert config["secrets"]["dockyard-postgres-pgpass"]["file"].endswith("stack.postgres.pgpass")
    # Again: the password, and so the database's data, stays.
    assert main([*args, "--database", "postgres"]) == 0
    assert "Kept stack.postgres.password" in capsys.readouterr().out
    assert Path("stack.postgres.password").read_text(encoding="utf-8") == password


# --- a real swarm ----------------------------------------------------------------------

STACK = "dydbtest"


@pytest.fixture(scope="module")
def database_node(docker_client: Any) -> Iterator[Any]:
    """This engine as a one-node swarm, labelled for the database; the stack, the label and
    the swarm (if the test made one) are removed at the end."""
    docker = shutil.which("docker")
    if docker is None:
        missing_prerequisite("no docker command-line client")
    joined = docker_client.info().get("Swarm", {}).get("LocalNodeState") != "active"
    bridge = leftovers.has_swarm_bridge(docker_client)
    if joined:
        docker_client.swarm.init(advertise_addr="127.0.0.1")
    node = docker_client.nodes.get(docker_client.info()["Swarm"]["NodeID"])
    spec = node.attrs["Spec"]
    node.update({**spec, "Labels": {**spec.get("Labels", {}), swarm.DATABASE_NODE_LABEL: "true"}})
    try:
        yield docker_client
    finally:
        _remove_stack(docker_client, docker)
        if joined:
            leftovers.leave_swarm(docker_client, bridge_before=bridge)
        else:
            node.reload()
            node.update(node.attrs["Spec"] | {"Labels": spec.get("Labels", {})})


def _remove_stack(client: Any, docker: str) -> None:
    """Remove the test stack with its containers, volume and secrets, and wait until they
    are gone (a stack deployed again at once would find its old secrets)."""
    subprocess.run([docker, "stack", "rm", STACK], capture_output=True, timeout=120, check=True)
    namespace = {"label": f"com.docker.stack.namespace={STACK}"}
    deadline = time.monotonic() + 90
    # sparse: a full list inspects each container, and one removed between the list and
    # its inspection would fail the teardown.
    while time.monotonic() < deadline and (
        client.containers.list(all=True, sparse=True, filters=namespace)
        or client.networks.list(names=[swarm.NETWORK])
    ):
        time.sleep(1)
    for volume in client.volumes.list(filters=namespace):
        volume.remove(force=True)


@pytest.fixture(scope="module")
def postgres_image(docker_client: Any, base_image: str, held_images: set[str]) -> str:
    tag = stand_in_image(docker_client, base_image)
    held_images.add(tag)  # both database modules use it
    return tag


def _healthy(client: Any, service: str, *, other_than: str | None = None) -> Any:
    """The service's running, healthy container (not ``other_than``), waiting for it."""
    deadline = time.monotonic() + 180
    while True:
        # A replaced task's container can go between the list and its inspection.
        for container in client.containers.list(
            ignore_removed=True,
            filters={"label": f"com.docker.swarm.service.name={STACK}_{service}"},
        ):
            health = container.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy" and container.id != other_than:
                return container
        if time.monotonic() > deadline:
            tasks = client.api.tasks(filters={"service": f"{STACK}_{service}"})
            pytest.fail(f"{service} never got healthy: {[t['Status'] for t in tasks]}")
        time.sleep(1)


def _sql(container: Any, sql: str) -> list[str]:
    """``sql`` over TCP as the stack's user, with the password from the database's secret."""
    code, output = _run_sql(container, sql)
    assert code == 0, output
    return output.splitlines()


def _run_sql(container: Any, sql: str) -> tuple[int, str]:
    script = f'PGPASSWORD="$(cat {SECRET})" psql -h 127.0.0.1 -U dockyard -d dockyard -AtX -c "$0"'
    code, output = container.exec_run(["sh", "-c", script, sql])
    return code, output.decode(errors="replace")


@pytest.mark.docker
@pytest.mark.slow
def test_a_swarm_stack_runs_its_database_and_keeps_the_data_when_the_task_is_replaced(
    database_node: Any,
    base_image: str,
    postgres_image: str,
    iris_bundle: Path,
    tmp_path: Path,
) -> None:
    client = database_node
    meta = dockyard.read_metadata(iris_bundle)
    tag = "dockyard-test/iris:compose"
    build_image(
        [iris_bundle], console=served.console(), tag=tag, base_image=base_image, offline=True,
        client=client,
    )  # fmt: skip
    port = free_port()
    stack_file = tmp_path / "stack.yaml"
    password = database.password_file(database.password_file_for(stack_file))
    pgpass = database.pgpass_file_for(password.path)
    service = ModelService(
        "iris", tag, meta.version, replicas=1, publish=port,
        health=Health(interval=2, start_period=15),
    )  # fmt: skip
    stack_file.write_text(
        swarm.render(
            [service],
            endpoint_mode="dnsrr",
            db=StackDatabase(password.path.name, pgpass.name, postgres_image),
        )
    )
    docker = shutil.which("docker") or "docker"
    subprocess.run(
        [docker, "stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), STACK],
        capture_output=True, timeout=300, check=True,
    )  # fmt: skip

    db = _healthy(client, "db")
    _sql(db, "CREATE TABLE dockyard_probe (note TEXT); INSERT INTO dockyard_probe VALUES ('kept')")
    model = _healthy(client, "iris")
    # The server's user can read its libpq password file, which holds the same password.
    code, said = model.exec_run(["python", "-c", f"print(open({PGPASS!r}).read())"])
    assert (code, said.decode().strip()) == (0, f"db:5432:dockyard:dockyard:{password.password}")
    # And libpq, given that file and the URL the models log to, gets in: over the overlay
    # network, by the service's name, from a one-off client container.
    client_output = client.containers.run(
        postgres_image,
        ["psql", "postgresql://dockyard@db:5432/dockyard", "-AtX", "-c", "SELECT current_user"],
        entrypoint=[], environment={"PGPASSFILE": "/pgpass"}, network=swarm.NETWORK,
        volumes={str(pgpass): {"bind": "/pgpass", "mode": "ro"}}, remove=True,
        # Where the image declares a VOLUME: else each run leaves an anonymous volume
        # (remove=True does not remove volumes).
        tmpfs={database.DATA: ""},
    )  # fmt: skip
    assert client_output.decode().strip() == "dockyard"
    url = f"http://127.0.0.1:{port}"
    engine.wait_ready(url, timeout=60)
    records = served.records(iris_bundle)
    served.assert_same(served.predict(url, "iris", records), served.local(iris_bundle, records))

    # A new task for the database (as after a node restart or an image update): same data.
    subprocess.run(
        [docker, "service", "update", "--force", "--detach", f"{STACK}_db"],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    replaced = _healthy(client, "db", other_than=db.id)
    assert _sql(replaced, "SELECT note FROM dockyard_probe") == ["kept"]


@pytest.mark.docker
@pytest.mark.slow
def test_deploy_to_swarm_with_a_database_logs_every_prediction_there(
    database_node: Any,
    base_image: str,
    postgres_image: str,
    iris_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = database_node
    docker = shutil.which("docker") or "docker"
    _remove_stack(client, docker)  # a stack of the test before, with another password
    tag = "dockyard-test/iris:compose"
    build_image(
        [iris_bundle], console=served.console(), tag=tag, base_image=base_image, offline=True,
        client=client,
    )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    port = free_port()
    deploy = [
        "deploy", "--to", "swarm", "--image", tag, "--name", "iris", "--stack", STACK,
        "--endpoint-mode", "dnsrr", "--resolve-image", "never", "--replicas", "1",
        "--port", str(port), "--health-start-period", "15", "--health-interval", "2",
        "--timeout", "300", "--database", "postgres", "--postgres-image", postgres_image,
    ]  # fmt: skip
    code = main(deploy)
    said = capsys.readouterr()
    assert code == 0, said.out + said.err
    password_file = tmp_path / f"{STACK}.postgres.password"
    assert (
        f"Wrote {password_file} (mode 0600): the database password, and its libpq twin "
        f"{STACK}.postgres.pgpass" in said.out
    )
    # The database rolled out first, then the model.
    database_line = said.out.index(f"{STACK}_db: 1/1 replicas on {postgres_image}")
    assert said.out.index(f"{STACK}_iris: 1/1 replicas on") > database_line
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600

    url = f"http://127.0.0.1:{port}"
    engine.wait_ready(url, timeout=60)
    records = served.records(iris_bundle)
    served.assert_same(served.predict(url, "iris", records), served.local(iris_bundle, records))
    db = _healthy(client, "db")
    # The log writes within a second; the database may have come up after the model, whose
    # writer then creates the tables when it retries.
    deadline = time.monotonic() + 60
    query = "SELECT count(*), min(entry), max(status) FROM predictions WHERE model = 'iris'"
    while (said := _run_sql(db, query)) != (0, f"{len(records)}|json|200\n"):
        if time.monotonic() > deadline:
            pytest.fail(f"the logged predictions are {said}, not {len(records)} JSON rows")
        time.sleep(1)

    # Deployed again: the password is kept, so Swarm takes the unchanged secret.
    assert main(deploy) == 0
    again = capsys.readouterr()
    assert f"Kept {password_file}" in again.out, again.err
    # From a directory without the password file: refused, since the stack has one.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(deploy) == ExitCode.USAGE
    assert f"Stack {STACK} already has a database password" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


class _Swarm:
    """An engine's client as ``deploy`` sees it, with ``labelled`` nodes for the database
    and the stack's password ``secrets``; ``outside`` when the engine is in no swarm."""

    def __init__(self, labelled: int = 0, secrets: int = 0, *, outside: bool = False) -> None:
        self.labelled, self.found_secrets, self.outside = labelled, secrets, outside
        self.nodes, self.secrets = self, self

    def list(self, filters: dict[str, str]) -> list[str]:
        if "node.label" in filters:
            assert filters == {"node.label": f"{swarm.DATABASE_NODE_LABEL}=true"}
            if self.outside:
                raise docker.errors.APIError("503", explanation="This node is not a swarm manager.")
            return ["node"] * self.labelled
        assert filters == {"name": f"{STACK}_dockyard-postgres-password"}
        return ["secret"] * self.found_secrets


@pytest.mark.parametrize(
    ("client", "said"),
    [
        (_Swarm(outside=True), "Cannot list this swarm's nodes: This node is not a swarm manager."),
        (_Swarm(), f"No node of this swarm is labelled {swarm.DATABASE_NODE_LABEL}=true"),
        (_Swarm(labelled=1, secrets=1), f"Stack {STACK} already has a database password"),
    ],
)
def test_deploy_with_a_database_refuses_before_it_writes_or_deploys(
    client: _Swarm,
    said: str,
    iris_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine, "connect", lambda: client)

    def never(*args: object, **kwargs: object) -> None:
        pytest.fail("deployed or built although the database was refused")

    monkeypatch.setattr(rollout, "stack_deploy", never)
    monkeypatch.setattr("dockyard.packaging.images.image_per_bundle", never)
    args = ["deploy", "--to", "swarm", str(iris_bundle), "--stack", STACK, "--database", "postgres"]
    assert main(args) in (ExitCode.USAGE, ExitCode.DOCKER)
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("option", "value"), [("--postgres-image", "pg:17"), ("--password-file", "pw")]
)
def test_deploy_takes_database_options_only_with_a_database(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["deploy", "--to", "swarm", "--image", "x:1", "--name", "x", option, value]
    assert main(args) == ExitCode.USAGE
    assert f"{option} goes with --database postgres" in capsys.readouterr().err

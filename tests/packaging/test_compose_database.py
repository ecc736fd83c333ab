"""``dockyard compose --database postgres``: the file it writes, and the stack it runs."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

import dockyard
from dockyard.cli.main import main
from dockyard.errors import ExitCode, UsageError
from dockyard.packaging import compose, database, engine
from dockyard.packaging.images import build_image
from tests.packaging import served
from tests.packaging.postgres import stand_in_image
from tests.processes import free_port


def _env(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_url_percent_encodes_what_would_break_it() -> None:
    text = database.url(user="us:er", password="p@ss/w:rd%?#", host="db", port=5432, database="d b")
    parts = urlsplit(text)
    assert parts.scheme == "postgresql"
    assert (parts.hostname, parts.port) == ("db", 5432)
    assert unquote(parts.username or "") == "us:er"
    assert unquote(parts.password or "") == "p@ss/w:rd%?#"
    assert unquote(parts.path) == "/d b"


def test_compose_file_adds_a_healthy_database_the_models_wait_for() -> None:
    text = compose.render(
        [
            compose.Service("iris", "iris:1.0.0", 8000, "3.11"),
            compose.Service("wine", "wine:1.0.0", 8001, "3.11"),
        ],
        db=compose.Database("compose.postgres.env", "example/postgres:17"),
    )
    doc = yaml.safe_load(text)
    db = doc["services"]["db"]
    assert db["image"] == "example/postgres:17"
    assert db["env_file"] == ["compose.postgres.env"]
    assert db["environment"] == {
        "POSTGRES_USER": "dockyard",
        "POSTGRES_DB": "dockyard",
        "PGDATA": "/var/lib/postgresql/data",
    }
    assert db["volumes"] == ["dockyard-postgres:/var/lib/postgresql/data"]
    assert doc["volumes"] == {"dockyard-postgres": {}}
    assert "ports" not in db
    assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "127.0.0.1" in db["healthcheck"]["test"]
    for name in ("iris", "wine"):
        model = doc["services"][name]
        assert model["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert model["env_file"] == ["compose.postgres.env"]
        assert model["read_only"] is True
    assert "PASSWORD" not in text.replace("POSTGRES_PASSWORD", "")


def test_compose_file_without_a_database_has_none() -> None:
    doc = yaml.safe_load(compose.render([compose.Service("iris", "iris:1.0.0", 8000, "3.11")]))
    assert set(doc) == {"version", "services"}
    assert set(doc["services"]["iris"]).isdisjoint({"depends_on", "env_file"})


def test_a_model_named_like_the_database_is_refused() -> None:
    with pytest.raises(UsageError, match="named 'db'"):
        compose.render([compose.Service("db", "db:1", 8000, "3.11")], db=compose.Database("x.env"))


def test_the_env_file_is_private_random_and_kept(tmp_path: Path) -> None:
    path = database.env_file_for(tmp_path / "compose.yaml")
    assert path == tmp_path / "compose.postgres.env"
    first = database.credentials(path)
    assert first.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = _env(path)
    assert values["POSTGRES_PASSWORD"] == first.password
    assert len(first.password) >= 40
    log = urlsplit(values["DOCKYARD_PREDICTION_LOG"])
    assert (log.username, log.password, log.hostname, log.port, log.path) == (
        "dockyard", first.password, "db", 5432, "/dockyard"
    )  # fmt: skip
    before = path.read_bytes()
    again = database.credentials(path)
    assert (again.created, again.password) == (False, first.password)
    assert path.read_bytes() == before
    other = database.credentials(tmp_path / "other.postgres.env")
    assert other.password != first.password


def test_a_damaged_env_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "compose.postgres.env"
    path.write_text("# emptied by hand\nPOSTGRES_PASSWORD=\n", encoding="utf-8")
    with pytest.raises(
        UsageError, match=r"no POSTGRES_PASSWORD or DOCKYARD_PREDICTION_LOG.*down -v"
    ):
        database.credentials(path)


def test_cli_writes_the_compose_file_and_keeps_the_password_out_of_it(
    iris_bundle: Path,
    wine_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    output = Path("stack", "compose.yaml")
    output.parent.mkdir()
    command = ["compose", str(iris_bundle), str(wine_bundle), "--no-build", "-o", str(output)]
    assert main([*command, "--database", "postgres"]) == 0
    assert "Wrote stack/compose.postgres.env (mode 0600)" in capsys.readouterr().out
    env_file = output.parent / "compose.postgres.env"
    password = _env(env_file)["POSTGRES_PASSWORD"]
    text = output.read_text(encoding="utf-8")
    assert password not in text
    doc: dict[str, Any] = yaml.safe_load(text)
    assert doc["services"]["db"]["image"] == database.DEFAULT_IMAGE
    assert doc["services"]["iris"]["env_file"] == ["compose.postgres.env"]
    # Again, with another image: the password (and so the data) stays.
    assert main([*command, "--database", "postgres", "--postgres-image", "pg:local"]) == 0
    assert "Kept stack/compose.postgres.env (mode 0600)" in capsys.readouterr().out
    assert _env(env_file)["POSTGRES_PASSWORD"] == password
    assert yaml.safe_load(output.read_text())["services"]["db"]["image"] == "pg:local"


def test_cli_refuses_a_postgres_image_without_a_database(
    iris_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "compose.yaml"
    code = main(
        ["compose", str(iris_bundle), "--no-build", "-o", str(output), "--postgres-image", "x"]
    )
    assert code == ExitCode.USAGE
    assert "--database postgres" in capsys.readouterr().err
    assert not output.exists()


# --- A real docker-compose up, down and up again ------------------------------------------


@pytest.fixture(scope="session")
def postgres_image(docker_client: Any, base_image: str, held_images: set[str]) -> str:
    tag = stand_in_image(docker_client, base_image)
    held_images.add(tag)  # both database modules use it
    return tag


class Compose:
    """docker-compose on one file and project (the ``compose_project`` fixture cleans up)."""

    def __init__(self, binary: str, file: Path, project: str) -> None:
        self.command = [binary, "-f", str(file), "-p", project]
        self.project = project

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done.stdout

    def psql(self, sql: str) -> list[str]:
        """Run ``sql`` in the database container, over TCP with the URL the models log to
        (so the env file's password is checked), and return the rows, one line each."""
        script = f'psql "${database.LOG_VARIABLE}" -AtX -v ON_ERROR_STOP=1 -c "$0"'
        return self("exec", "-T", database.SERVICE, "sh", "-c", script, sql).splitlines()


@pytest.fixture
def compose_project(tmp_path: Path, docker_client: Any) -> Iterator[tuple[Path, str]]:
    """A compose file's path and a unique project name; ``down -v`` removes what it started."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed (scripts/ci-system installs it)")
    file = tmp_path / "compose.yaml"
    project = f"dockyarddb{free_port()}"
    yield file, project
    if file.exists():
        subprocess.run(
            [binary, "-f", str(file), "-p", project, "down", "-v", "--timeout", "20"],
            capture_output=True, timeout=300, check=True,
        )  # fmt: skip


def _logged(db: Compose) -> dict[str, int]:
    """The prediction log's rows in the database, by model."""
    rows = db.psql("SELECT model, count(*) FROM predictions GROUP BY model ORDER BY model")
    return {model: int(n) for model, n in (r.split("|") for r in rows)}


def _wait_logged(db: Compose, expected: dict[str, int], timeout: float = 30) -> dict[str, int]:
    """The log's rows once they reach ``expected`` (the log writes behind the answers)."""
    deadline = time.monotonic() + timeout
    while True:
        found = _logged(db)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _started(container: Any) -> datetime:
    return datetime.fromisoformat(container.attrs["State"]["StartedAt"][:26].rstrip("Z") + "+00:00")


def _ready_at(container: Any) -> datetime:
    """When the database last said it accepts connections (the real server, after set-up)."""
    lines = container.logs(timestamps=True).decode(errors="replace").splitlines()
    ready = [line for line in lines if "ready to accept connections" in line]
    assert ready, lines[-20:]
    return datetime.fromisoformat(ready[-1].split()[0][:26].rstrip("Z") + "+00:00")


def _up(db: Compose, docker_client: Any, services: list[compose.Service]) -> None:
    db("up", "-d")
    containers = {
        c.labels["com.docker.compose.service"]: c
        for c in docker_client.containers.list(
            filters={"label": f"com.docker.compose.project={db.project}"}
        )
    }
    assert containers["db"].attrs["State"]["Health"]["Status"] == "healthy"
    ready = _ready_at(containers["db"])
    for service in services:
        # depends_on: the model started once the database was healthy, not with it.
        assert _started(containers[service.name]) > ready
        engine.wait_ready(f"http://127.0.0.1:{service.host_port}", timeout=90)


def _answering(services: list[compose.Service], bundles: list[Path]) -> None:
    for service, bundle in zip(services, bundles, strict=True):
        url = f"http://127.0.0.1:{service.host_port}"
        records = served.records(bundle)
        served.assert_same(
            served.predict(url, service.name, records), served.local(bundle, records)
        )


@pytest.mark.docker
@pytest.mark.slow
def test_two_models_and_postgres_keep_their_rows_across_down_and_up(
    docker_client: Any,
    base_image: str,
    postgres_image: str,
    iris_bundle: Path,
    wine_bundle: Path,
    compose_project: tuple[Path, str],
) -> None:
    file, project = compose_project
    bundles = [iris_bundle, wine_bundle]
    services = []
    for bundle in bundles:
        meta = dockyard.read_metadata(bundle)
        tag = f"dockyard-test/{meta.name}:compose"
        build_image(
            [bundle], console=served.console(), tag=tag, base_image=base_image, offline=True,
            client=docker_client,
        )  # fmt: skip
        services.append(compose.Service(meta.name, tag, free_port(), "3.11"))
    credentials = database.credentials(database.env_file_for(file))
    file.write_text(
        compose.render(services, db=compose.Database(credentials.path.name, postgres_image))
    )
    assert credentials.password not in file.read_text()
    db = Compose(shutil.which("docker-compose") or "docker-compose", file, project)

    _up(db, docker_client, services)
    _answering(services, bundles)
    # Every prediction answered is in the database the compose file gave the models.
    answered = {s.name: len(served.records(b)) for s, b in zip(services, bundles, strict=True)}
    assert _wait_logged(db, answered) == answered

    db("down", "--timeout", "20")
    assert not docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={project}"}
    )
    volume = f"{project}_{database.VOLUME}"
    assert docker_client.volumes.get(volume).name == volume

    _up(db, docker_client, services)
    # The rows survived down and up, before anything new was predicted.
    assert _logged(db) == answered
    _answering(services, bundles)
    twice = {name: 2 * n for name, n in answered.items()}
    assert _wait_logged(db, twice) == twice

"""``dockyard compose --database postgres``: the file it writes, and the stack it runs."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from dockyard.cli.main import main
from dockyard.errors import ExitCode, UsageError
from dockyard.packaging import compose, database


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

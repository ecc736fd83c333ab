from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.cli.main import main
from dockyard.settings import Settings


def test_serve_passes_the_prediction_log_on(
    iris_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.cli.commands import serve

    seen: list[Settings] = []
    monkeypatch.setattr(serve, "_serve", lambda settings, sock, **_: seen.append(settings))
    url = f"sqlite:///{tmp_path / 'log.db'}"
    assert main(["serve", str(iris_bundle), "--port", "0", "--prediction-log", url]) == 0
    assert seen[0].prediction_log == url
    # Worker processes rebuild their settings from the environment.
    env = serve.environment_for(seen[0])
    assert env["DOCKYARD_PREDICTION_LOG"] == url
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == seen[0]


@pytest.mark.parametrize(
    "url", ["mysql://user:secret@db:3306/x", "sqlite://log.db", "sqlite:///", "log.db"]
)
def test_a_bad_prediction_log_url_is_one_clear_error(
    iris_bundle: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(iris_bundle), "--prediction-log", url]) == 2
    err = capsys.readouterr().err
    assert "prediction_log" in err
    assert "sqlite:///PATH" in err
    assert "secret" not in err
    assert "Traceback" not in err


def test_the_environment_sets_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    values: dict[str, Any] = {
        "DOCKYARD_PREDICTION_LOG": "postgresql://u:p@db:5432/logs",
        "DOCKYARD_PREDICTION_LOG_INPUTS": "false",
        "DOCKYARD_PREDICTION_LOG_RETENTION_DAYS": "30",
        "DOCKYARD_PREDICTION_LOG_REQUIRED": "true",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.prediction_log == "postgresql://u:p@db:5432/logs"
    assert not settings.prediction_log_inputs
    assert settings.prediction_log_retention_days == 30
    assert settings.prediction_log_required
    assert (settings.prediction_log_queue, settings.prediction_log_batch) == (20_000, 2_000)

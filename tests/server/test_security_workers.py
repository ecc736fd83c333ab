"""Sessions and the exposure warning with a real `dockyard serve`."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from dockyard.cli.main import main
from tests.conftest import IRIS_SETOSA
from tests.processes import Server

KEY = "k3y-for-tests-0123456789"
PREDICT = "/v1/models/iris/predict"


def test_a_session_signed_out_on_one_worker_is_refused_by_all(
    iris_bundle: Path, tmp_path: Path
) -> None:
    server = Server(iris_bundle, workers=2, env={"DOCKYARD_API_KEY": KEY, "TMPDIR": str(tmp_path)})
    try:
        server.wait_ready()
        signed_in = httpx.post(f"{server.url}/login", data={"key": KEY}, timeout=10)
        assert signed_in.status_code == 303
        cookies = {"dockyard_session": signed_in.cookies["dockyard_session"]}

        def statuses() -> set[int]:
            # A connection each: the kernel spreads them over both workers' sockets.
            return {
                httpx.post(
                    server.url + PREDICT, json=IRIS_SETOSA, cookies=cookies, timeout=10
                ).status_code
                for _ in range(12)
            }

        assert statuses() == {200}
        out = httpx.post(f"{server.url}/logout", cookies=cookies, timeout=10)
        assert out.status_code == 303
        assert statuses() == {401}
        (directory,) = tmp_path.glob("dockyard-sessions-*")
        assert len(list(directory.iterdir())) == 1
    finally:
        server.stop()


def test_serving_beyond_loopback_without_a_key_warns(
    iris_bundle: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    import uvicorn

    served: list[str] = []

    def run(server: uvicorn.Server, sockets: object = None) -> None:
        served.append(server.config.host)
        server.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.delenv("DOCKYARD_API_KEY", raising=False)
    monkeypatch.setattr(gc, "disable", lambda: None)  # the mock server's lifespan never runs
    assert main(["serve", str(iris_bundle), "--host", "0.0.0.0", "--port", "0"]) == 0
    assert served[0] == "0.0.0.0"
    assert "Warning: no API key" in capsys.readouterr().err
    assert main(["serve", str(iris_bundle), "--port", "0"]) == 0
    assert "Warning" not in capsys.readouterr().err

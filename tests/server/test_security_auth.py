"""Guessing the key: short keys, failed attempts, sign-in sessions and login CSRF."""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from dockyard.auth.attempts import FailedAttempts, client_address
from dockyard.auth.sessions import RevokedSessions, Sessions
from dockyard.errors import UsageError
from dockyard.predictor import Predictor
from dockyard.server.app import create_app
from dockyard.settings import Settings
from tests.conftest import IRIS_SETOSA

KEY = "k3y-for-tests-0123456789"
PREDICT = "/v1/models/iris/predict"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keyed(iris: Predictor) -> Iterator[TestClient]:
    app = create_app(Settings(api_key=KEY, auth_failures_per_minute=5), predictors=[iris])
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _sign_in(client: TestClient) -> str:
    response = client.post("/login", data={"key": KEY, "next": "/"})
    assert response.status_code == 303
    token = response.cookies["dockyard_session"]
    client.cookies.clear()
    return token


@pytest.mark.parametrize("length", [6, 15])
def test_a_short_key_is_refused_with_how_to_make_one(length: int, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least 16") as raised:
        Settings(api_key="x" * length).resolved_api_key()
    assert "secrets.token_urlsafe" in str(raised.value)
    (tmp_path / "key").write_text("short\n")
    with pytest.raises(UsageError, match=r"key in .*key has 5 characters"):
        Settings(api_key_file=tmp_path / "key").resolved_api_key()
    assert Settings(api_key="x" * 16).resolved_api_key() == "x" * 16
    with pytest.raises(ValidationError, match="session_secret"):
        Settings(session_secret="short")


@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
def test_wrong_keys_get_429_with_retry_after(keyed: TestClient, header: str) -> None:
    def send(key: str) -> int:
        value = key if header == "x-api-key" else f"Bearer {key}"
        response = keyed.post(PREDICT, json=IRIS_SETOSA, headers={header: value})
        if response.status_code == 429:
            assert 1 <= int(response.headers["retry-after"]) <= 12
            assert response.json()["code"] == "too_many_attempts"
        return response.status_code

    assert send(KEY) == 200
    statuses = [send(f"guess-{i}") for i in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    # Now the right key is refused too (through the fast path and the framework alike),
    # or the refusal would still tell a right guess from a wrong one.
    assert send(KEY) == 429
    assert keyed.get("/v1/models", headers={"x-api-key": KEY}).status_code == 429
    # Asking without a key is no guess: the usual 401.
    assert keyed.post(PREDICT, json=IRIS_SETOSA).status_code == 401


def test_failed_sign_ins_get_429_and_a_session_keeps_working(keyed: TestClient) -> None:
    token = _sign_in(keyed)
    statuses = [keyed.post("/login", data={"key": f"guess-{i}"}).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    refused = keyed.post("/login", data={"key": KEY})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Try again in" in refused.text
    assert "dockyard_session" not in refused.cookies
    # Someone already signed in is no guesser: a session cookie cannot be guessed.
    keyed.cookies.set("dockyard_session", token)
    assert keyed.post(PREDICT, json=IRIS_SETOSA).status_code == 200


def test_failed_attempts_refill_and_stay_bounded() -> None:
    clock = Clock()
    attempts = FailedAttempts(6, capacity=3, clock=clock)
    scope = {"client": ("203.0.113.7", 5000)}
    for _ in range(6):
        assert attempts.retry_after(scope) == 0
        attempts.fail(scope)
    assert attempts.retry_after(scope) == 10  # 6 a minute: one every 10 s
    clock.now += 9.5
    assert attempts.retry_after(scope) == 1
    clock.now += 0.5
    assert attempts.retry_after(scope) == 0
    clock.now += 3600
    assert attempts.retry_after(scope) == 0
    assert len(attempts) == 0  # forgiven and forgotten
    for i in range(10):
        attempts.fail({"client": (f"198.51.100.{i}", 1)})
    assert len(attempts) == 3  # only the latest addresses are tracked


def test_addresses_count_by_host_and_ipv6_network() -> None:
    assert client_address({"client": ("203.0.113.7", 1)}) == "203.0.113.7"
    assert client_address({"client": ("2001:db8::1", 1)}) == "2001:db8::/64"
    assert client_address({"client": ("2001:db8::ffff:2", 1)}) == "2001:db8::/64"
    assert client_address({"client": ("::ffff:203.0.113.7", 1)}) == "203.0.113.7"
    assert client_address({"client": None}) == ""


def test_sessions_are_random_and_expire(keyed: TestClient) -> None:
    response = keyed.post("/login", data={"key": KEY})
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=43200" in cookie
    first = response.cookies["dockyard_session"]
    keyed.cookies.clear()
    assert _sign_in(keyed) != first  # a new session each time, not one per key
    # The old token, HMAC(key, constant), is no session: nobody can mint one offline.
    minted = hmac.new(KEY.encode(), b"dockyard browser session", hashlib.sha256).hexdigest()
    keyed.cookies.set("dockyard_session", minted)
    assert keyed.post(PREDICT, json=IRIS_SETOSA).status_code == 401
    tampered = first[:-1] + ("0" if first[-1] != "0" else "1")
    keyed.cookies.set("dockyard_session", tampered)
    assert keyed.post(PREDICT, json=IRIS_SETOSA).status_code == 401

    clock = Clock()
    sessions = Sessions(KEY, "secret" * 4, 3600, RevokedSessions(), clock=clock)
    token = sessions.issue().encode()
    assert sessions.valid(token)
    clock.now += 3599
    assert sessions.valid(token)
    clock.now += 1
    assert not sessions.valid(token)
    # Another key or secret (a rotated key, a restart) ends every session.
    assert not Sessions(KEY + "2", "secret" * 4, 3600, RevokedSessions()).valid(token)
    assert not Sessions(KEY, "other!" * 4, 3600, RevokedSessions()).valid(token)


def test_signing_out_revokes_the_session(keyed: TestClient) -> None:
    token = _sign_in(keyed)
    keyed.cookies.set("dockyard_session", token)
    assert keyed.get("/models/iris").status_code == 200
    assert 'action="/logout"' in keyed.get("/").text
    out = keyed.post("/logout")
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert 'dockyard_session=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]
    # A copy of the cookie kept elsewhere is refused as well.
    keyed.cookies.set("dockyard_session", token)
    assert keyed.post(PREDICT, json=IRIS_SETOSA).status_code == 401
    assert keyed.get("/models/iris").headers["location"] == "/login?next=/models/iris"


def test_signing_out_on_one_worker_ends_the_session_on_all(
    iris: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Two worker processes: apps built from the same settings (as the environment
    # carries them to each worker).
    settings = Settings(api_key=KEY, workers=2)
    one, two = (create_app(settings, predictors=[iris]) for _ in range(2))
    with (
        TestClient(one, follow_redirects=False) as first,
        TestClient(two, follow_redirects=False) as second,
    ):
        token = _sign_in(first)
        for client in (first, second):
            client.cookies.set("dockyard_session", token)
            assert client.post(PREDICT, json=IRIS_SETOSA).status_code == 200
        assert second.post("/logout").status_code == 303
        first.cookies.set("dockyard_session", token)
        assert first.post(PREDICT, json=IRIS_SETOSA).status_code == 401
    (directory,) = tmp_path.iterdir()
    assert directory.stat().st_mode & 0o777 == 0o700


def test_sign_out_files_are_removed_when_their_sessions_end(tmp_path: Path) -> None:
    clock = Clock()
    directory = tmp_path / "revoked"
    sessions = Sessions(KEY, "secret" * 4, 60, RevokedSessions(directory, clock=clock), clock=clock)
    old = sessions.issue().encode()
    sessions.revoke(old)
    assert len(list(directory.iterdir())) == 1
    clock.now += 61
    sessions.revoke(sessions.issue().encode())
    assert len(list(directory.iterdir())) == 1  # the ended one is gone


def test_the_key_is_read_once_for_the_pages_and_the_middleware(
    iris: Predictor, tmp_path: Path
) -> None:
    secret = tmp_path / "key"
    secret.write_text(KEY)
    app = create_app(Settings(api_key_file=secret), predictors=[iris])
    secret.write_text("a-rotated-key-0123456789")  # the server goes on with the key it read
    with TestClient(app, follow_redirects=False) as client:
        assert client.post("/login", data={"key": "a-rotated-key-0123456789"}).status_code == 401
        assert client.post("/login", data={"key": KEY}).status_code == 303
        assert client.post(PREDICT, json=IRIS_SETOSA).status_code == 200


@pytest.mark.parametrize("path", ["/login", "/logout"])
def test_a_form_from_another_site_is_refused(keyed: TestClient, path: str) -> None:
    for headers in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "http://testserver"},
    ):
        refused = keyed.post(path, data={"key": KEY}, headers=headers)
        assert refused.status_code == 403, headers
        assert "another site" in refused.text
        assert "set-cookie" not in refused.headers
    for headers in (
        {"origin": "http://testserver"},
        # Chrome under Referrer-Policy: no-referrer, posting from this server's page.
        {"origin": "null", "sec-fetch-site": "same-origin"},
        {},  # not a browser
    ):
        same = keyed.post(path, data={"key": KEY}, headers=headers)
        assert same.status_code == 303, headers

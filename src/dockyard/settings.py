"""Server settings: defaults, overridden by ``DOCKYARD_*`` environment variables,
overridden by explicit arguments (the CLI passes its flags that way)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dockyard.defaults import CSV_CHUNK_ROWS
from dockyard.errors import UsageError
from dockyard.monitoring.urls import check_prediction_log_url

MiB = 1024 * 1024
MIN_KEY_LENGTH = 16
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class Settings(BaseSettings):
    """How ``dockyard serve`` behaves. Every field can be set as ``DOCKYARD_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DOCKYARD_", extra="ignore", frozen=True)

    bundles: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    """Bundle directories to serve; in the environment, separated by ``:`` (os.pathsep)."""

    host: str = "127.0.0.1"
    """Interface to bind. Containers set ``0.0.0.0``."""

    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port to bind."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes; each loads every bundle."""

    max_body_bytes: int = Field(default=8 * MiB, ge=1024)
    """Largest JSON request body accepted; larger bodies get 413."""

    max_upload_bytes: int = Field(default=512 * MiB, ge=1024)
    """Largest CSV body or upload accepted; larger ones get 413."""

    max_batch_rows: int = Field(default=10_000, ge=1)
    """Most records one JSON or V2 request may carry."""

    batch_rows: int = Field(default=64, ge=1)
    """Adaptive batching: small requests that arrive together are predicted in one model
    call of at most this many rows. 1 turns batching off."""

    csv_chunk_rows: int = Field(default=CSV_CHUNK_ROWS, ge=1)
    """Rows scored at a time when streaming CSV; bounds memory. Chunks this size stay
    in the CPU caches: 10-20% faster per row than 50,000."""

    csv_escape_formulas: bool = True
    """Scored CSV: write a cell that a spreadsheet would run as a formula (it starts with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, and is not a plain number) with
    a ``'`` in front, quoted, as OWASP recommends against CSV injection. ``false`` writes
    every cell as it came, for pipelines that need the raw values."""

    allow_version_mismatch: bool = False
    """Serve a bundle whose recorded scikit-learn/numpy versions differ from the running ones."""

    trusted_types: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Extra types the skops loader may construct, beyond Dockyard's reviewed list."""

    runtime: Literal["auto", "onnx", "sklearn"] = "auto"
    """Which runtime serves: the bundle's verified ONNX export where it has one (auto),
    ONNX Runtime only (onnx), or scikit-learn always (sklearn)."""

    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """Server log level."""

    access_log: bool = False
    """Log one line per request. Off by default, as in gunicorn: the Prometheus metrics
    count every request by model, route and status, and a log line per request costs
    about a third of single-row throughput."""

    graceful_timeout: float = Field(default=20.0, ge=0)
    """Seconds to finish in-flight requests after SIGTERM before exiting."""

    drain_seconds: float = Field(default=3.0, ge=0, le=300)
    """After SIGTERM, keep serving this long while /readyz reports not ready, so load
    balancers stop sending traffic before the listener closes (Kubernetes: a few seconds).
    Answers sent meanwhile carry ``Connection: close``, so keep-alive clients reconnect
    (to another replica, or to this one until it stops listening) instead of meeting a
    closed socket. 0 stops at once."""

    header_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a client may take to send a request's headers, from connecting or from the
    previous response; slower connections are closed (slow-header attacks)."""

    max_connections: int = Field(default=1000, ge=1)
    """Open connections (and requests in progress) one worker accepts; past it new
    requests get 503. Bounds what a flood of idle sockets can hold."""

    request_timeout: float = Field(default=30.0, gt=0)
    """Seconds a client may take to send a request body; slower clients get 408."""

    api_key: SecretStr | None = None
    """Require this key (``Authorization: Bearer <key>`` or ``X-API-Key``) on every
    endpoint except health and readiness."""

    api_key_file: Path | None = None
    """Read the API key from this file (a mounted secret) instead of the environment."""

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed to call the API from a browser; empty (the default) allows none."""

    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names the server answers to (``*.example.com`` for subdomains, ``*`` for
    any); other names get 400, which stops DNS rebinding. Empty (the default): localhost,
    127.0.0.1 and [::1] when bound to a loopback address, any name otherwise."""

    show_versions: bool = False
    """Show the exact Python and package versions (model pages, ``/v1/models/{name}``)
    to clients without a key. With an API key, those who have it always see them."""

    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """How long a browser stays signed in."""

    session_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)), min_length=16
    )
    """Signs browser sessions, with the API key. Random at each start, and shared by one
    server's workers; set the same value on every replica behind one load balancer."""

    auth_failures_per_minute: int = Field(default=10, ge=1)
    """Wrong API keys and failed sign-ins a client address may make at once, and then
    each minute; beyond that it gets 429 with Retry-After."""

    prediction_log: str | None = None
    """Record every prediction in this database: ``sqlite:///PATH`` (a file; several
    workers share it) or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``. Unset: no log."""

    prediction_log_inputs: bool = True
    """Record each row's inputs. ``false`` for personal data: the log keeps outputs only
    (drift of the inputs then cannot be measured)."""

    prediction_log_queue: int = Field(default=20_000, ge=1)
    """Rows waiting for the database, per worker (about 0.5 KB each); beyond it new ones
    are dropped and counted (``dockyard_prediction_log_dropped_total``), never waited for."""

    prediction_log_batch: int = Field(default=2_000, ge=1)
    """Most rows written in one transaction; the writer is woken when this many wait
    (otherwise every half second). Fewer, larger batches cost the requests less."""

    prediction_log_retention_days: float | None = Field(default=None, gt=0)
    """Delete logged predictions and feedback older than this many days (checked hourly).
    Unset: keep everything."""

    prediction_log_required: bool = False
    """``/readyz`` fails while the prediction log's database is unreachable. Off: it
    reports the log's state and stays ready (predictions are answered either way)."""

    @field_validator("prediction_log")
    @classmethod
    def _check_prediction_log(cls, value: str | None) -> str | None:
        return None if value is None else check_prediction_log_url(value)

    @field_validator("bundles", mode="before")
    @classmethod
    def _split_bundles(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

    @field_validator("cors_origins", "trusted_types", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        for pattern in value:
            wildcard = "*" in pattern[1:] or (pattern[:1] == "*" and pattern[:2] != "*.")
            if wildcard and pattern != "*":
                raise ValueError(f"'{pattern}' is not a host name, '*.domain' or '*'")
        return value

    @property
    def loopback(self) -> bool:
        """Whether the server listens on a loopback address only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def trusted_hosts(self) -> list[str]:
        """The Host names to answer: ``allowed_hosts``, or the default for ``host``."""
        if self.allowed_hosts:
            return self.allowed_hosts
        return list(LOOPBACK_HOSTS) if self.loopback else ["*"]

    @property
    def has_api_key(self) -> bool:
        """Whether a key is configured (without reading its file)."""
        return self.api_key is not None or self.api_key_file is not None

    @property
    def versions_shown(self) -> bool:
        """Whether clients see the exact Python and package versions a model runs with (to
        an attacker, a list of what to try): with a key (only those who have it get any
        answer), or when ``show_versions`` is set."""
        return self.show_versions or self.has_api_key

    @property
    def exposed_without_key(self) -> bool:
        """Serving beyond this machine with no key: anyone who can reach it may use it."""
        return not self.loopback and not self.has_api_key

    def resolved_api_key(self) -> str | None:
        """The API key from ``api_key_file`` or ``api_key``; ``None`` when auth is off."""
        if self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise UsageError(
                    f"Cannot read the API key file {self.api_key_file}: {exc.strerror}."
                ) from None
            if not key:
                raise UsageError(f"The API key file {self.api_key_file} is empty.")
            origin = f"The API key in {self.api_key_file}"
        elif self.api_key is not None:
            key = self.api_key.get_secret_value()
            origin = "DOCKYARD_API_KEY"
        else:
            return None
        if len(key) < MIN_KEY_LENGTH:
            raise UsageError(
                f"{origin} has {len(key)} characters; a key needs at least {MIN_KEY_LENGTH}, "
                "or it can be guessed.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            )
        return key

"""The prediction log's database URLs: which are accepted, and how one is shown with its
password hidden. Imports nothing heavy: the writer process and the settings both use it."""

from __future__ import annotations

__all__ = ["PREDICTION_LOG_FORMS", "check_prediction_log_url", "redacted_url"]

PREDICTION_LOG_FORMS = ("sqlite:///PATH", "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
"""The prediction log URLs :mod:`dockyard.monitoring.store` opens."""
_SCHEMES = ("sqlite", "postgresql", "postgres")


def check_prediction_log_url(url: str) -> str:
    """``url`` if it names a database the prediction log can open, else a ``ValueError``
    naming the accepted forms. ``sqlite:///PATH`` (four slashes for an absolute path, as in
    SQLAlchemy) or ``postgresql://`` (``postgres://`` too, as libpq accepts)."""
    scheme, sep, rest = url.partition("://")
    forms = " or ".join(PREDICTION_LOG_FORMS)
    if not sep or scheme not in _SCHEMES:
        raise ValueError(f"'{redacted_url(url)}' is not a database URL; use {forms}")
    if scheme == "sqlite" and (not rest.startswith("/") or not rest[1:]):
        raise ValueError(f"'{url}' names no file; use {PREDICTION_LOG_FORMS[0]}")
    return url


def redacted_url(url: str) -> str:
    """``url`` with its password, if any, as ``***``: for messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not (sep and at and ":" in userinfo):
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"

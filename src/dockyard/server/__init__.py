"""The HTTP server: the v1 REST API, the Open Inference Protocol, docs, health and metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.server.app import create_app


def __getattr__(name: str) -> Any:
    # Lazy, so that importing one submodule (dockyard.web needs server.security) does not
    # build the whole application module, which imports dockyard.web in turn.
    if name == "create_app":
        from dockyard.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["create_app"]

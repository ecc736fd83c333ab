"""The HTTP server: the v1 REST API, the Open Inference Protocol, docs, health and metrics."""

from __future__ import annotations

from dockyard.server.app import create_app

__all__ = ["create_app"]

"""Probes and metrics: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import NotReady
from dockyard.server.dataplane import DataPlane
from dockyard.server.metrics import CONTENT_TYPE, Metrics
from dockyard.server.responses import JSONResponse


class Operations:
    def __init__(self, plane: DataPlane, metrics: Metrics) -> None:
        self.plane = plane
        self.metrics = metrics

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not self.plane.ready:
            raise NotReady("Not ready: models are loading or the server is shutting down.")
        return JSONResponse({"status": "ready", "models": sorted(self.plane.repository.names)})

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)


__all__ = ["Operations"]

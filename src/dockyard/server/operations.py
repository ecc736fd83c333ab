"""Probes and metrics: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dockyard.errors import NotReady
from dockyard.monitoring.log import PredictionLog
from dockyard.server.dataplane import DataPlane
from dockyard.server.metrics import CONTENT_TYPE, Metrics
from dockyard.server.responses import JSONResponse


class Operations:
    def __init__(
        self,
        plane: DataPlane,
        metrics: Metrics,
        log: PredictionLog | None = None,
        *,
        log_required: bool = False,
    ) -> None:
        self.plane = plane
        self.metrics = metrics
        self.log = log
        self.log_required = log_required

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if not self.plane.ready:
            raise NotReady("Not ready: models are loading or the server is shutting down.")
        body: dict[str, object] = {"status": "ready", "models": sorted(self.plane.repository.names)}
        if self.log is not None:
            # Predictions are answered whether or not the log can write them: by default its
            # state is reported, not a reason to take the server out of rotation.
            state = self.log.state()
            body["prediction_log"] = {
                "status": state.status,
                "queued": state.queued,
                "dropped": state.dropped,
                "written": state.written,
            }
            if self.log_required and state.status != "ok":
                raise NotReady(
                    f"Not ready: the prediction log is {state.status} ({state.error}).",
                    hint="DOCKYARD_PREDICTION_LOG_REQUIRED=true makes /readyz wait for it.",
                )
        return JSONResponse(body)

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)


__all__ = ["Operations"]

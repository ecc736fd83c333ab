"""Prometheus metrics: requests by model/endpoint/status, latency, predictions by class.

With several worker processes, prometheus-client's multiprocess mode aggregates them
(``PROMETHEUS_MULTIPROC_DIR`` must be set before the workers start; ``dockyard serve``
does that).
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Labelled children are cached per label set (labels() costs a lock and a tuple build per
# call); past this many label sets new ones are simply not cached.
_CACHE_LIMIT = 4096
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dockyard_requests",
            "HTTP requests by model, endpoint and status code.",
            ["model", "endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dockyard_request_duration_seconds",
            "Time to answer a request, by model and endpoint.",
            ["model", "endpoint"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "dockyard_predictions",
            "Predictions made, by model and predicted class (regressors: class='value').",
            ["model", "label"],
            registry=self.registry,
        )

        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*labels)
            if len(self._children) < _CACHE_LIMIT:
                self._children[key] = child
        return child

    def count_request(
        self, model: str, endpoint: str, method: str, status: int, seconds: float
    ) -> None:
        self._child(self.requests, model, endpoint, method, str(status)).inc()
        self._child(self.latency, model, endpoint).observe(seconds)

    def count_predictions(self, model: str, outputs: Sequence[Any], classification: bool) -> None:
        if not classification:
            self._child(self.predictions, model, "value").inc(len(outputs))
        elif len(outputs) == 1:
            self._child(self.predictions, model, str(outputs[0])).inc()
        else:
            for label, n in Tally(str(o) for o in outputs).items():
                self._child(self.predictions, model, label).inc(n)

    def exposition(self) -> bytes:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template, never by raw path,
    so label cardinality stays bounded whatever callers send."""

    def __init__(self, app: ASGIApp, metrics: Metrics, models: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.models = models

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            name = scope.get("path_params", {}).get("name", "")
            model = name if name in self.models else ""
            self.metrics.count_request(
                model, endpoint, scope["method"], status, time.perf_counter() - start
            )

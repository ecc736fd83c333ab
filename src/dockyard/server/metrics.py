"""Prometheus metrics: requests by model/endpoint/status, latency, predictions by class,
unseen categories accepted by model/feature, and with a prediction log, live drift (PSI)
by model/feature.

With several worker processes, prometheus-client's multiprocess mode aggregates them
(``PROMETHEUS_MULTIPROC_DIR`` must be set before the workers start; ``dockyard serve``
does that).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from dockyard.monitoring.gauges import ModelDrift

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CLIENT_CLOSED = 499
"""The status counted for a request whose client left before it was answered (nginx's)."""
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FLUSH_SECONDS = 1.0
"""How stale a worker's figures can be in a scrape served by another worker."""


class _Families:
    """The metric families in prometheus-client, made at the first flush: importing
    prometheus-client is 10-20 ms that a server's start need not wait for."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

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
        self.log_dropped = Counter(
            "dockyard_prediction_log_dropped",
            "Prediction-log rows dropped: the queue was full, or the database stayed down.",
            registry=self.registry,
        )
        self.log_written = Counter(
            "dockyard_prediction_log_written",
            "Prediction-log rows written to the database.",
            registry=self.registry,
        )
        self.unknown_categories = Counter(
            "dockyard_unknown_category",
            "Values never seen in training that a category feature accepted, by model and feature.",
            ["model", "feature"],
            registry=self.registry,
        )


class _DriftFamilies:
    """The live drift gauges (see :mod:`dockyard.monitoring.gauges`), registered only when
    the server keeps a prediction log: its shipping thread feeds them.

    With several workers each one sees part of the traffic and computes the PSI of its own
    window, a sample of the same stream: summing them would grow with the worker count, a
    most-recent value would be one worker's at random. ``max`` shows drift as soon as any
    worker's window shows it, and the window's rows are the ``min`` over workers: the
    fewest rows behind any PSI shown, which bounds its noise. (A worker that died keeps its
    last values until the server restarts: ``dockyard serve`` does not mark dead workers.)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Gauge

        self.feature_psi: Gauge = Gauge(
            "dockyard_feature_psi",
            "Population stability index of a feature over the recent rows against the "
            "training reference (the largest of the workers'; only with a prediction log).",
            ["model", "feature"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.prediction_psi: Gauge = Gauge(
            "dockyard_prediction_psi",
            "Population stability index of the predictions over the recent rows against "
            "those on the training data (the largest of the workers'; only with a prediction log).",
            ["model"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.window_rows: Gauge = Gauge(
            "dockyard_drift_window_rows",
            "Answered rows behind the drift gauges (the fewest of any worker's window; only "
            "with a prediction log).",
            ["model"],
            registry=registry,
            multiprocess_mode="min",
        )

    def set(self, drift: dict[str, ModelDrift]) -> None:
        for model, found in drift.items():
            self.window_rows.labels(model).set(found.rows)
            # An empty window has no PSI (it is not 0): the gauge appears with the first rows.
            for feature, value in found.features.items():
                self.feature_psi.labels(model, feature).set(value)
            if found.prediction is not None:
                self.prediction_psi.labels(model).set(found.prediction)


class Metrics:
    """The server's Prometheus metrics, tallied in plain dictionaries per request and
    written to prometheus-client in :meth:`flush`: at every scrape of this process, and
    every :data:`FLUSH_SECONDS` while serving (so other workers' scrapes see them).

    In multiprocess mode every prometheus-client increment is a locked write to a
    memory-mapped file, about 9 µs for what one request records: a tenth of a
    single-row prediction. A tally costs a dictionary update under a lock (CSV scoring
    counts from worker threads).
    """

    def __init__(self) -> None:
        self._families: _Families | None = None
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str, int], int] = {}
        # (model, endpoint) -> [sum of seconds, count per bucket..., count above the last]
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._predictions: dict[tuple[str, str], int] = {}
        self._unknown_categories: list[tuple[str, Callable[[], dict[str, int]]]] = []
        self._log_counts: Callable[[], tuple[int, int]] | None = None
        self._drift: Callable[[], dict[str, ModelDrift]] | None = None
        self._drift_families: _DriftFamilies | None = None

    def watch_drift(self, drift: Callable[[], dict[str, ModelDrift]]) -> None:
        """Set the drift gauges at each flush from what ``drift`` returns (see
        :meth:`dockyard.monitoring.gauges.LiveDistributions.drift`)."""
        self._drift = drift

    def watch_log(self, counts: Callable[[], tuple[int, int]]) -> None:
        """Add at each flush the (dropped, written) prediction-log rows ``counts`` returns."""
        self._log_counts = counts

    def watch_unknown_categories(self, model: str, drain: Callable[[], dict[str, int]]) -> None:
        """Count at each flush what ``drain`` returns: unseen categories accepted, by feature."""
        self._unknown_categories.append((model, drain))

    def count_request(
        self, model: str, endpoint: str, method: str, status: int, seconds: float
    ) -> None:
        key = (model, endpoint, method, status)
        with self._lock:
            self._requests[key] = self._requests.get(key, 0) + 1
            tally = self._latency.get((model, endpoint))
            if tally is None:
                tally = self._latency[(model, endpoint)] = [0.0] * (len(_BUCKETS) + 2)
            tally[0] += seconds
            # Prometheus buckets are "less than or equal": the first bound >= seconds.
            tally[1 + bisect_left(_BUCKETS, seconds)] += 1

    def count_predictions(self, model: str, outputs: Sequence[Any], classification: bool) -> None:
        if not classification:
            counts: dict[str, int] = {"value": len(outputs)}
        elif len(outputs) == 1:
            counts = {str(outputs[0]): 1}
        else:
            counts = Tally(str(o) for o in outputs)
        with self._lock:
            pending = self._predictions
            for label, n in counts.items():
                key = (model, label)
                pending[key] = pending.get(key, 0) + n

    @property
    def families(self) -> _Families:
        if self._families is None:
            self._families = _Families()
        return self._families

    @property
    def registry(self) -> CollectorRegistry:
        """This process's registry."""
        return self.families.registry

    def flush(self) -> None:
        """Write the tallies to prometheus-client."""
        families = self.families
        with self._lock:
            requests, self._requests = self._requests, {}
            latency, self._latency = self._latency, {}
            predictions, self._predictions = self._predictions, {}
        for (model, endpoint, method, status), n in requests.items():
            families.requests.labels(model, endpoint, method, str(status)).inc(n)
        for (model, endpoint), tally in latency.items():
            child = families.latency.labels(model, endpoint)
            # Histogram.observe() takes one value; these are its own two fields, written
            # as it writes them (the bucket counts are per bucket, not cumulative).
            # Private to prometheus-client (0.2x): one write per bucket instead of one
            # observe() per request, each a locked mmapped-file write in multiprocess mode.
            # tests/server/test_metrics.py pins the exposition these give in both modes.
            child._sum.inc(tally[0])  # private: the histogram's running sum
            # private: its per-bucket counters, in bound order, +Inf last
            for bucket, observed in zip(child._buckets, tally[1:], strict=True):
                if observed:
                    bucket.inc(observed)
        for (model, label), count in predictions.items():
            families.predictions.labels(model, label).inc(count)
        if self._log_counts is not None:
            dropped, written = self._log_counts()
            families.log_dropped.inc(dropped)
            families.log_written.inc(written)
        for model, drain in self._unknown_categories:
            for feature, count in drain().items():
                families.unknown_categories.labels(model, feature).inc(count)
        if self._drift is not None:
            if self._drift_families is None:
                self._drift_families = _DriftFamilies(families.registry)
            self._drift_families.set(self._drift())

    async def flush_periodically(self) -> None:
        """Run while serving: flush every :data:`FLUSH_SECONDS` (and once when cancelled)."""
        try:
            while True:
                await asyncio.sleep(FLUSH_SECONDS)
                self.flush()
        finally:
            self.flush()

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        self.flush()
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
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
            # Returned without answering: the client went away first.
            status = status or CLIENT_CLOSED
        except BaseException:
            status = status or 500
            raise
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            name = scope.get("path_params", {}).get("name", "")
            model = name if name in self.models else ""
            self.metrics.count_request(
                model, endpoint, scope["method"], status, time.perf_counter() - start
            )

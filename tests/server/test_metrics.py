"""The tallies behind /metrics: flushed, they say what direct prometheus-client calls say."""

from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from dockyard.server.metrics import _BUCKETS, Metrics

ROUTE = "/v1/models/{name}/predict"


def test_flushed_tallies_match_direct_observations() -> None:
    rng = random.Random(7)
    seconds = [rng.choice([0.0, *_BUCKETS, 11.0]) for _ in range(300)]  # every bound
    seconds += [rng.uniform(0, 12) for _ in range(700)]
    metrics = Metrics()
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram(
        "dockyard_request_duration_seconds",
        "Time to answer a request, by model and endpoint.",
        ["model", "endpoint"],
        buckets=_BUCKETS,
        registry=registry,
    )
    requests = Counter(
        "dockyard_requests",
        "HTTP requests by model, endpoint and status code.",
        ["model", "endpoint", "method", "status"],
        registry=registry,
    )
    for i, value in enumerate(seconds):
        status = 200 if i % 3 else 422
        metrics.count_request("iris", ROUTE, "POST", status, value)
        latency.labels("iris", ROUTE).observe(value)
        requests.labels("iris", ROUTE, "POST", str(status)).inc()
        if i == 500:
            metrics.flush()  # a flush midway changes nothing
    metrics.flush()

    def samples(reg: CollectorRegistry) -> dict[str, float]:
        lines = generate_latest(reg).decode().splitlines()
        return {
            name: float(value)
            for name, _, value in (line.rpartition(" ") for line in lines)
            if name.startswith(("dockyard_requests_total", "dockyard_request_duration_seconds_"))
            and "_created" not in name
        }

    # Equal counts in every bucket and status; the sums, added in another order, to 1e-12.
    assert samples(metrics.registry) == pytest.approx(samples(registry), rel=1e-12)


def test_counts_from_threads_are_not_lost() -> None:
    metrics = Metrics()

    def work() -> None:
        for _ in range(2000):
            metrics.count_predictions("iris", ["setosa", "virginica"], True)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):
        metrics.flush()
    for thread in threads:
        thread.join()
    text = metrics.exposition().decode()
    assert 'dockyard_predictions_total{label="setosa",model="iris"} 8000.0' in text
    assert 'dockyard_predictions_total{label="virginica",model="iris"} 8000.0' in text

"""The tallies behind /metrics: flushed, they say what direct prometheus-client calls say."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

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


# Metrics.flush writes a histogram child's private _sum and _buckets (observe() takes one
# value at a time). This pins the exposition those writes must give, in one process and in
# multiprocess mode, so a prometheus-client upgrade that changes its privates fails here.
# Three requests: 1/256 s (bucket 0.005), 1/8 s (bucket 0.25), 20 s (above every bound).
_PINNED_LATENCY = f"""\
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.0005",model="iris"}} 0.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.001",model="iris"}} 0.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.0025",model="iris"}} 0.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.005",model="iris"}} 1.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.01",model="iris"}} 1.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.025",model="iris"}} 1.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.05",model="iris"}} 1.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.1",model="iris"}} 1.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.25",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="0.5",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="1.0",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="2.5",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="5.0",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="10.0",model="iris"}} 2.0
dockyard_request_duration_seconds_bucket{{endpoint="{ROUTE}",le="+Inf",model="iris"}} 3.0
dockyard_request_duration_seconds_count{{endpoint="{ROUTE}",model="iris"}} 3.0
dockyard_request_duration_seconds_sum{{endpoint="{ROUTE}",model="iris"}} 20.12890625
"""

# Two flushes, so the second adds to what the first wrote.
_PIN_SCRIPT = f"""
from dockyard.server.metrics import Metrics
metrics = Metrics()
metrics.count_request("iris", "{ROUTE}", "POST", 200, 1 / 256)
metrics.count_request("iris", "{ROUTE}", "POST", 200, 1 / 8)
metrics.flush()
metrics.count_request("iris", "{ROUTE}", "POST", 200, 20.0)
print(metrics.exposition().decode())
"""


def _latency_lines(exposition: str) -> list[str]:
    return sorted(
        line
        for line in exposition.splitlines()
        if line.startswith("dockyard_request_duration") and "_created" not in line
    )


@pytest.mark.parametrize("multiprocess", [False, True], ids=["one-process", "multiprocess"])
def test_the_flushed_histogram_exposition_is_pinned(multiprocess: bool, tmp_path: Path) -> None:
    # A fresh interpreter: prometheus-client chooses its value class (in memory or in
    # memory-mapped files) when it is imported, from PROMETHEUS_MULTIPROC_DIR.
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PIN_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert _latency_lines(done.stdout) == _latency_lines(_PINNED_LATENCY)

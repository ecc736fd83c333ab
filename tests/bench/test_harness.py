"""Smoke test of the benchmark harness: a quick run against the baseline and Dockyard,
bounded in time, checking the shape of what it writes (never its speed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report
from tests.conftest import missing_prerequisite

REPO = Path(__file__).resolve().parents[2]


def _need_wrk() -> None:
    if shutil.which("wrk") is None:
        missing_prerequisite("wrk is not installed (apt-get install wrk; .ci/run installs it)")


@pytest.mark.slow
def test_quick_run_writes_results(tmp_path: Path) -> None:
    _need_wrk()
    argv = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--servers",
        "baseline,dockyard-sklearn",
        "--models",
        "lr",
        "--workers",
        "2",
        "--duration",
        "1",
        "--csv-rows",
        "2000",
        "--no-containers",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert {"meta", "results", "csv_cli", "skipped"} <= doc.keys()
    by_server = {r["server"]: r for r in doc["results"]}
    assert set(by_server) == {"baseline", "dockyard-sklearn"}
    for result in by_server.values():
        assert result["status"] == "ok", result
        assert result["cold_start_s"] > 0  # of one process
        assert result["start_s"] > 0  # of the server the load ran against
        assert result["peak_rss_mb"] > 0
        assert set(result["load"]) == {"c1", "c32"}
        for load in result["load"].values():
            assert load["requests"] > 0
            assert load["errors"] == 0
            assert load["p50_ms"] <= load["p99_ms"]
    assert by_server["dockyard-sklearn"]["csv_http"]["status"] == "ok"
    assert "vs_baseline" in by_server["dockyard-sklearn"]
    assert [c["status"] for c in doc["csv_cli"]] == ["ok"]
    table = (tmp_path / "latest.md").read_text()
    assert "| dockyard-sklearn | LogisticRegression |" in table


def test_ratios_and_table_from_a_synthetic_run() -> None:
    load = {
        "c1": {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0},
        "c32": {"rps": 1000.0, "p50_ms": 3.0, "p99_ms": 4.0},
    }
    doc = {
        "meta": {
            "started": "2026-01-01T00:00:00Z",
            "commit": "abc",
            "cpus": 2,
            "seconds": 1,
            "workers": 2,
            "load_average_at_start": 0.1,
        },
        "results": [
            {"server": "hello", "model": None, "status": "ok", "load": {"c32": {"rps": 4000.0}}},
            {"server": "baseline", "model": "lr", "status": "ok", "load": {"c32": {"rps": 10.0}}},
            {
                "server": "dockyard-fast",
                "model": "lr",
                "status": "ok",
                "load": load,
                "cold_start_s": 0.3,
                "peak_rss_mb": 80.0,
            },
            {"server": "mlflow", "model": "lr", "status": "error", "reason": "did not start"},
        ],
        "csv_cli": [],
        "skipped": [{"server": "bentoml", "reason": "could not install"}],
    }
    report.add_ratios(doc)
    fast = doc["results"][2]
    assert fast["vs_baseline"] == 100.0
    assert fast["vs_ceiling"] == 0.25
    table = report.markdown(doc)
    assert "| dockyard-fast | LogisticRegression | 1,000 | 100x | 25% |" in table
    assert "error: did not start" in table
    assert "- bentoml: could not install" in table


def test_rounds_merge_into_medians_keeping_each_round() -> None:
    def run(rps: float, p99: float, colds: list[float], rss: float) -> dict[str, object]:
        return {
            "server": "dockyard-fast",
            "model": "lr",
            "status": "ok",
            "load": {"c32": {"rps": rps, "p99_ms": p99, "requests": int(rps * 10)}},
            "cold_start_s": sorted(colds)[1],
            "cold_start_runs_s": colds,
            "peak_rss_mb": rss,
            "start_s": 1.0,
        }

    runs = [
        run(900.0, 9.0, [0.30, 0.31, 0.90], 300.0),
        run(1200.0, 3.0, [0.32, 0.33, 0.95], 320.0),
        {"server": "dockyard-fast", "model": "lr", "status": "error", "reason": "port taken"},
        run(1000.0, 4.0, [0.42, 0.80, 0.85], 310.0),
    ]
    merged = report.median_of(runs)
    assert merged["status"] == "ok"
    assert merged["load"]["c32"] == {"rps": 1000.0, "p99_ms": 4.0, "requests": 10000}
    # The median of all nine cold starts (0.42), not of the three medians (0.33).
    assert merged["cold_start_s"] == 0.42
    assert merged["peak_rss_mb"] == 320.0
    assert [r["rps"] for r in merged["rounds"]] == [900.0, 1200.0, 1000.0]
    assert [r["round"] for r in merged["rounds"]] == [1, 2, 4]
    assert merged["failed_rounds"] == 1
    assert report.median_of(runs[2:3])["status"] == "error"
    assert report.median_of(runs[:1]) is runs[0]


def test_the_log_cost_pairs_each_round_with_the_same_round_without_the_log() -> None:
    def result(server: str, rounds: list[float | None]) -> dict[str, Any]:
        ok = [r for r in rounds if r is not None]
        return {
            "server": server,
            "model": "lr",
            "status": "ok",
            "load": {"c32": {"rps": sorted(ok)[len(ok) // 2]}},
            "rounds": [
                {"round": n, "rps": rps} for n, rps in enumerate(rounds, 1) if rps is not None
            ],
        }

    # The machine slows down in round 2 for both; the log's third round failed.
    doc: dict[str, Any] = {
        "results": [
            result("dockyard-fast", [20_000.0, 10_000.0, 21_000.0, 20_000.0]),
            result("dockyard-fast-log", [18_000.0, 9_500.0, None, 19_000.0]),
            result("mlflow", [5_000.0]),
        ]
    }
    report.add_log_cost(doc)
    [cost] = doc["log_cost"]
    assert cost["model"] == "lr"
    assert cost["change"] == round(18_000 / 20_000 - 1, 4)
    assert cost["rounds"] == [-0.1, -0.05, -0.05]
    assert cost["median_round"] == -0.05
    doc["meta"] = {
        "started": "now", "commit": "abc", "cpus": 2, "seconds": 1, "workers": 2,
        "load_average_at_start": 0.1,
    }  # fmt: skip
    doc.update(csv_cli=[], skipped=[])
    assert "by round -10.0%, -5.0%, -5.0% (median -5.0%)" in report.markdown(doc)
    # Without the logged server, nothing to report.
    doc = {"results": [result("dockyard-fast", [20_000.0])]}
    report.add_log_cost(doc)
    assert "log_cost" not in doc

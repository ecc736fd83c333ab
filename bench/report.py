"""Results → ratios against the baseline, a JSON file and a Markdown table."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from bench.models import KINDS
from bench.servers import SERVERS

HEADLINE = "c32"


def _rps(entry: dict[str, Any], key: str = HEADLINE) -> float | None:
    load = entry.get("load", {}).get(key)
    return load["rps"] if load else None


def add_ratios(doc: dict[str, Any]) -> None:
    """Each result gets ``vs_baseline`` (req/s over the tutorial's, same model) and
    ``vs_ceiling`` (req/s over the hello-world's), at the headline concurrency."""
    results = doc["results"]
    base = {r["model"]: _rps(r) for r in results if r["server"] == "baseline"}
    ceiling = next((_rps(r) for r in results if r["server"] == "hello"), None)
    for r in results:
        rps = _rps(r)
        if rps is None:
            continue
        if base.get(r["model"]):
            r["vs_baseline"] = round(rps / base[r["model"]], 1)
        if ceiling:
            r["vs_ceiling"] = round(rps / ceiling, 3)


def add_log_cost(doc: dict[str, Any]) -> None:
    """``log_cost``: for each model served both as ``dockyard-fast`` and as
    ``dockyard-fast-log``, what logging every prediction changes in req/s at the headline
    concurrency: the ``change`` of the medians and, with rounds, each round's own
    (``rounds``, paired by round: the servers take turns within a round, so a slow minute
    of a shared machine falls on both) and their ``median_round``."""
    found = {(r["server"], r["model"]): r for r in doc["results"] if r["status"] == "ok"}
    costs = []
    for (server, model), on in found.items():
        off = found.get(("dockyard-fast", model))
        if server != "dockyard-fast-log" or off is None:
            continue
        cost: dict[str, Any] = {"model": model}
        before, after = _rps(off), _rps(on)
        if before and after:
            cost["change"] = round(after / before - 1, 4)
        paired = {r["round"]: r["rps"] for r in off.get("rounds", []) if r["rps"]}
        rounds = [
            round(r["rps"] / paired[r["round"]] - 1, 4)
            for r in on.get("rounds", [])
            if r["rps"] and r["round"] in paired
        ]
        if rounds:
            cost["rounds"] = rounds
            cost["median_round"] = round(statistics.median(rounds), 4)
        costs.append(cost)
    if costs:
        doc["log_cost"] = costs


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several rounds of the same server and model: the median of every
    figure over the rounds that succeeded (peak memory: the highest), each round's headline
    figures under ``rounds``; the first failure when none succeeded."""
    ok = [r for r in runs if r["status"] == "ok"]
    if len(runs) == 1 or not ok:
        return runs[0]
    merged = _median_tree(ok)
    merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in ok)
    merged["cold_start_runs_s"] = [c for r in ok for c in r["cold_start_runs_s"]]
    merged["cold_start_s"] = round(statistics.median(merged["cold_start_runs_s"]), 3)
    merged["rounds"] = [
        {
            "round": number,
            "rps": _rps(r),
            "p99_ms": r["load"].get(HEADLINE, {}).get("p99_ms"),
            "cold_start_s": r["cold_start_s"],
        }
        for number, r in enumerate(runs, 1)
        if r["status"] == "ok"
    ]
    merged["failed_rounds"] = len(runs) - len(ok)
    return merged


def _median_tree(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, dict):
        return {k: _median_tree([i[k] for i in items if k in i]) for k in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return first
    value = statistics.median(items)
    return round(value, 3) if isinstance(value, float) else value


def _f(value: Any, fmt: str = "{:,.0f}") -> str:
    return "—" if value is None else fmt.format(value)


def markdown(doc: dict[str, Any]) -> str:
    meta = doc["meta"]
    lines = [
        f"Benchmark {meta['started']} · commit {meta['commit']} · {meta['cpus']} cores · "
        f"{meta['seconds']:g} s per load run · "
        + (f"medians of {meta['rounds']} rounds · " if meta.get("rounds", 1) > 1 else "")
        + f"Dockyard workers {meta['workers']} · "
        f"wrk on the same machine · load average {meta['load_average_at_start']:.1f} at start",
        "",
        "| server | model | req/s (32 conn) | x baseline | of ceiling | p50 / p99 ms (32 conn) "
        "| req/s (1 conn) | p50 / p99 ms (1 conn) | cold start s | peak RSS MB | CSV over HTTP rows/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        model = KINDS.get(r["model"] or "", "—")
        if r["status"] != "ok":
            lines.append(
                f"| {r['server']} | {model} | {r['status']}: {r.get('reason', '')[:160]} |"
            )
            continue
        c32 = r["load"].get("c32", {})
        c1 = r["load"].get("c1", {})
        csv = r.get("csv_http", {})
        lines.append(
            f"| {r['server']} | {model} | {_f(c32.get('rps'))} | {_f(r.get('vs_baseline'), '{:g}x')} "
            f"| {_f(r.get('vs_ceiling'), '{:.0%}')} "
            f"| {_f(c32.get('p50_ms'), '{:.2f}')} / {_f(c32.get('p99_ms'), '{:.2f}')} "
            f"| {_f(c1.get('rps'))} | {_f(c1.get('p50_ms'), '{:.2f}')} / {_f(c1.get('p99_ms'), '{:.2f}')} "
            f"| {_f(r.get('cold_start_s'), '{:.2f}')} | {_f(r.get('peak_rss_mb'))} "
            f"| {_f(csv.get('rows_per_s')) if csv.get('status') == 'ok' else csv.get('reason', '—')[:60]} |"
        )
    for cost in doc.get("log_cost", []):
        line = (
            f"Prediction log (`dockyard-fast-log` against `dockyard-fast`, "
            f"{KINDS.get(cost['model'], cost['model'])}, req/s at 32 connections): "
            f"{_f(cost.get('change'), '{:+.1%}')} between the medians"
        )
        if cost.get("rounds"):
            each = ", ".join(f"{c:+.1%}" for c in cost["rounds"])
            line += f"; by round {each} (median {cost['median_round']:+.1%})"
        lines += ["", line + "."]
    if doc.get("csv_cli"):
        lines += [
            "",
            "| `dockyard predict` | model | rows | seconds | rows/s |",
            "|---|---|---:|---:|---:|",
        ]
        for c in doc["csv_cli"]:
            if c["status"] == "ok":
                lines.append(
                    f"| {c['runtime']} | {KINDS[c['model']]} | {c['rows']:,} | {c['seconds']:.2f} "
                    f"| {c['rows_per_s']:,} |"
                )
            else:
                lines.append(
                    f"| {c['runtime']} | {KINDS[c['model']]} | error: {c['reason'][:120]} |"
                )
    containers = doc.get("containers")
    if containers:
        lines += ["", "Containers: " + containers.get("reason", "")]
        for c in containers.get("images", []):
            if c.get("status") != "ok":
                lines.append(f"- {c['name']}: {c.get('status')}: {c.get('reason', '')[:200]}")
                continue
            lines.append(
                f"- {c['name']}: image {_f(c.get('size_mb'))} MB "
                f"(+{_f(c.get('added_mb'))} MB over the base), "
                f"container cold start {_f(c.get('cold_start_s'), '{:.2f}')} s"
            )
    if doc.get("skipped"):
        lines += ["", "Not measured:"]
        lines += [f"- {s['server']}: {s['reason']}" for s in doc["skipped"]]
    lines += ["", "Servers: " + "; ".join(f"{k}: {v}" for k, v in SERVERS.items())]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["meta"]["started"].replace(":", "").replace("-", "")
    json_path = out_dir / f"bench-{stamp}.json"
    md_path = out_dir / f"bench-{stamp}.md"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    md_path.write_text(markdown(doc))
    (out_dir / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    (out_dir / "latest.md").write_text(markdown(doc))
    return json_path, md_path

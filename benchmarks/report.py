"""Figures of one measurement, the printed table and the JSON file."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.load import Window

RESULTS = Path(__file__).resolve().parent / "results"
MB = 1024 * 1024

# Server CPU per request, service over each floor: issue 2's targets against the
# five-statement floor, issue 10's against the one-statement floor; and peak memory.
CPU_RATIO_TARGETS = {
    "floor": {"listing_20": 8.0, "listing_100": 10.0},
    "floor1": {"listing_20": 5.0, "listing_100": 4.0},
}
PEAK_MEMORY_TARGET_MB = 150.0


@dataclass(frozen=True)
class Result:
    workload: str
    server: str
    requests: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    statements_per_request: float
    transactions_per_request: float
    peak_rss_mb: float
    startup_peak_rss_mb: float
    client_cpu_share: float


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def result(
    workload: str,
    server: str,
    window: Window,
    *,
    statements: float,
    transactions: int,
    peak_rss: int,
    startup_peak_rss: int,
) -> Result:
    latencies = sorted(window.latencies)
    count = len(latencies)
    return Result(
        workload=workload,
        server=server,
        requests=count,
        errors=window.errors,
        requests_per_second=count / window.seconds,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        cpu_ms_per_request=window.server_cpu_seconds * 1000 / max(count, 1),
        statements_per_request=statements,
        transactions_per_request=transactions / max(window.answered, 1),
        peak_rss_mb=peak_rss / MB,
        startup_peak_rss_mb=startup_peak_rss / MB,
        client_cpu_share=window.client_cpu_seconds / window.seconds,
    )


def cpu_ratios(results: list[Result]) -> dict[str, dict[str, float]]:
    """Service CPU per request over each floor's, per floor and workload both ran."""
    by_key = {(r.workload, r.server): r for r in results}
    ratios: dict[str, dict[str, float]] = {}
    for workload, server in by_key:
        if server != "service" and (workload, "service") in by_key:
            ratios.setdefault(server, {})[workload] = (
                by_key[(workload, "service")].cpu_ms_per_request
                / by_key[(workload, server)].cpu_ms_per_request
            )
    return ratios


HEADER = (
    f"{'workload':<12} {'server':<8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
    f"{'CPU ms/req':>10} {'SQL/req':>7} {'xact/req':>8} {'peak MB':>7} {'errors':>6}"
)


def _row(r: Result) -> str:
    return (
        f"{r.workload:<12} {r.server:<8} {r.requests_per_second:>7.0f} {r.p50_ms:>7.1f} "
        f"{r.p99_ms:>7.1f} {r.cpu_ms_per_request:>10.2f} {r.statements_per_request:>7.0f} "
        f"{r.transactions_per_request:>8.1f} {r.peak_rss_mb:>7.0f} {r.errors:>6}"
    )


def table(results: list[Result]) -> str:
    lines = [HEADER, "-" * len(HEADER), *(_row(r) for r in results), ""]
    for floor, ratios in cpu_ratios(results).items():
        for workload, ratio in ratios.items():
            target = CPU_RATIO_TARGETS.get(floor, {}).get(workload)
            verdict = (
                ""
                if target is None
                else f"  (target <= {target:.0f}x: {_verdict(ratio <= target)})"
            )
            lines.append(f"CPU per request, service / {floor}, {workload}: {ratio:.1f}x{verdict}")
    service = [r for r in results if r.server == "service"]
    peak = max((r.peak_rss_mb for r in service), default=0.0)
    startup = max((r.startup_peak_rss_mb for r in service), default=0.0)
    lines.append(
        f"Peak memory of the service under load: {peak:.0f} MB "
        f"(target < {PEAK_MEMORY_TARGET_MB:.0f} MB: {_verdict(peak < PEAK_MEMORY_TARGET_MB)}); "
        f"while starting: {startup:.0f} MB"
    )
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def write_json(results: list[Result], settings: dict[str, Any]) -> Path:
    """Write the results to benchmarks/results/<time>.json; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / time.strftime("%Y%m%d-%H%M%S.json")
    document = {
        "settings": settings,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": [asdict(r) for r in results],
        "cpu_ratio_service_over_floor": cpu_ratios(results),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path

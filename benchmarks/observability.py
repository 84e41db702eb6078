"""What metrics, the access log (text or JSON) and tracing cost per request.

    .venv/bin/python -m benchmarks.observability [--rounds 3] [--duration 10]
        [--baseline <git revision without them>]

Seeds a small PostgreSQL database, then drives `listing_20` (32 clients) at one service
worker per variant, the variants interleaved round after round so that drift on a shared
machine spreads over all of them:

- `baseline`: the code at `--baseline` (exported with `git archive`), when given;
- `metrics`: this code as configured by default (metrics on, access log off at WARNING);
- `text log`, `json log`: LOG_LEVEL=INFO, so that every request writes its access line
  (to /dev/null), LOG_FORMAT=text or json;
- `tracing`: OTEL_EXPORTER_OTLP_ENDPOINT pointing at a stand-in collector on 127.0.0.1
  that reads and discards what it is sent.

Prints the server CPU ms per request of every round and each variant's median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.database import ROOT, BenchmarkDatabase, add_admin_url
from benchmarks.load import drive
from benchmarks.servers import SERVICE, running
from benchmarks.workloads import listing


class _Discard(BaseHTTPRequestHandler):
    # Export requests received, to show the tracing variant did send its spans.
    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Discard.received += 1
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _collector() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _export(revision: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True, timeout=60
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=60)


def _variants(baseline: Path | None, collector: str) -> dict[str, dict[str, str]]:
    variants = {} if baseline is None else {"baseline": {"PYTHONPATH": str(baseline)}}
    variants["metrics"] = {}
    variants["text log"] = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "text"}
    variants["json log"] = {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
    variants["tracing"] = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector}
    return variants


async def _measure(url: str, env: dict[str, str], args: argparse.Namespace) -> float:
    workload = listing(20)
    with running(SERVICE, url, env, quiet=True) as server:
        window = await drive(
            f"{server.base_url}/graphql",
            workload.bodies,
            server.cpu_seconds,
            headers=workload.headers,
            clients=args.clients,
            warmup=args.warmup,
            duration=args.duration,
        )
    if window.errors or not window.latencies:
        raise RuntimeError(f"requests failed: {window.first_error}")
    return window.server_cpu_seconds * 1000 / len(window.latencies)


async def benchmark(args: argparse.Namespace) -> dict[str, list[float]]:
    database = BenchmarkDatabase(args.admin_url, f"storefront_bench_obs_{os.getpid()}")
    collector, collector_url = _collector()
    with tempfile.TemporaryDirectory(prefix="storefront-baseline-") as folder:
        baseline = None
        if args.baseline:
            baseline = Path(folder)
            _export(args.baseline, baseline)
        variants = _variants(baseline, collector_url)
        await database.create()
        try:
            database.storefront("migrate")
            database.storefront("seed", "--products", "400", "--reviews", "4000", "--orders", "100")
            figures: dict[str, list[float]] = {name: [] for name in variants}
            names = list(variants)
            for number in range(args.rounds):
                # A different order each round: no variant always runs first or last.
                order = names[number % len(names) :] + names[: number % len(names)]
                for name in order:
                    cpu = await _measure(database.url, variants[name], args)
                    figures[name].append(cpu)
                    print(f"  round {number + 1}: {name}: {cpu:.2f} ms", file=sys.stderr)
            return figures
        finally:
            collector.shutdown()
            collector.server_close()
            await database.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.observability", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--baseline", help="git revision without metrics, logs and tracing")
    add_admin_url(parser)
    args = parser.parse_args(argv)
    figures = asyncio.run(benchmark(args))
    print(f"{'variant':<10} {'median CPU ms/req':>18}   rounds")
    for name, values in figures.items():
        rounds = " ".join(f"{value:.2f}" for value in values)
        print(f"{name:<10} {statistics.median(values):>18.2f}   {rounds}")
    print(f"the collector took {_Discard.received} export requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())

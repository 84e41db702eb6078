"""The load benchmark: the service against a hand-written floor, on seeded PostgreSQL.

    .venv/bin/python -m benchmarks.run [--duration 15] [--clients 32]

Creates a fresh database, migrates and seeds it at the default size, then for each
workload starts a server (one uvicorn worker), checks its answer, drives it with
concurrent clients and measures it; the two floors answer the listings too. Prints a table,
writes JSON to benchmarks/results/ and drops the database. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import httpx
import orjson

from benchmarks import report
from benchmarks.database import BenchmarkDatabase
from benchmarks.load import drive
from benchmarks.servers import FLOORS, SERVICE, ServerKind, running
from benchmarks.statements import Reference, references
from benchmarks.workloads import DETAIL_STRIDE, Workload, all_workloads
from server.seed import DEMO_CUSTOMER


class WrongAnswer(Exception):
    """A server under test answered differently from the service in process."""


def _check_answer(
    base_url: str, kind: ServerKind, workload: Workload, reference: Reference
) -> None:
    response = httpx.post(f"{base_url}/graphql", content=reference.body, headers=workload.headers)
    if response.status_code != 200 or orjson.loads(response.content) != reference.response:
        raise WrongAnswer(
            f"{kind.name} answered {workload.name} differently from the service in process: "
            f"{response.status_code} {response.text[:500]}"
        )


async def measure(
    kind: ServerKind,
    workload: Workload,
    reference: Reference,
    database: BenchmarkDatabase,
    args: argparse.Namespace,
) -> report.Result:
    """Start a fresh server of `kind`, drive `workload` at it, stop it; its figures."""
    transactions_before = await database.transactions()
    with running(kind, database.url) as server:
        print(f"  {workload.name} on {kind.name} (pid {server.process.pid}) ...", file=sys.stderr)
        _check_answer(server.base_url, kind, workload, reference)
        window = await drive(
            f"{server.base_url}/graphql",
            workload.bodies,
            server.cpu_seconds,
            headers=workload.headers,
            clients=args.clients,
            warmup=args.warmup,
            duration=args.duration,
        )
    await database.wait_disconnected()
    transactions = await database.transactions() - transactions_before
    if window.first_error:
        print(f"  first error: {window.first_error}", file=sys.stderr)
    return report.result(
        workload.name,
        kind.name,
        window,
        statements=FLOORS.get(kind, reference.statements),
        transactions=transactions,
        peak_rss=server.memory.peak,
        startup_peak_rss=server.memory.startup_peak,
    )


async def benchmark(args: argparse.Namespace) -> list[report.Result]:
    database = BenchmarkDatabase(args.admin_url, f"storefront_bench_{os.getpid()}")
    print(f"creating, migrating and seeding {database.name} ...", file=sys.stderr)
    await database.create()
    try:
        database.storefront("migrate")
        database.storefront("seed")
        token = database.storefront(
            "issue-token", "--user", DEMO_CUSTOMER[0], "--scopes", "profile orders:read"
        ).strip()
        workloads = all_workloads(await database.detail_slugs(DETAIL_STRIDE), token)
        if args.workloads:
            workloads = [w for w in workloads if w.name in args.workloads]
        expected = await references(database.url, workloads)
        results = []
        for workload in workloads:
            kinds = [SERVICE]
            if workload.has_floor and not args.service_only:
                kinds.extend(FLOORS)
            reference = expected[workload.name]
            for kind in kinds:
                results.append(await measure(kind, workload, reference, database, args))
        return results
    finally:
        if not args.keep_database:
            await database.drop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds first")
    parser.add_argument(
        "--workloads",
        nargs="*",
        choices=["listing_20", "listing_100", "detail"],
        help="run only these (default: all)",
    )
    parser.add_argument("--service-only", action="store_true", help="skip the floors")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name (env BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = runner(benchmark(args))
    print(report.table(results))
    settings = {k: v for k, v in vars(args).items() if k != "admin_url"}
    print(f"\nwrote {report.write_json(results, settings)}", file=sys.stderr)
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

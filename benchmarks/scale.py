"""The catalog at two sizes: how each read grows from the default seed to 100 times it.

    .venv/bin/python -m benchmarks.scale [--requests 200] [--clients 8] [--keep-databases]

Seeds two PostgreSQL databases, `storefront_scale_1x` and `storefront_scale_100x` (the
default seed, and 200,000 products, 2,000,000 reviews, 50,000 users, 500 categories,
200,000 orders), or reuses them when their row counts say they were seeded so before
(`--keep-databases` keeps them for the next run). Then, per size and query, one client
sends `--requests` requests in process (the app through ASGI, no sockets) and the table
shows p50 and p99 at both sizes, the growth factor, the SQL statements of one request and
whether the largest statement's plan scans a whole table; then `--clients` clients at
once, and each query's p99 under that load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
import psutil
from tortoise import Tortoise
from tortoise.connection import get_connection

from benchmarks.database import ROOT, BenchmarkDatabase, add_admin_url
from resolvers.pagination import encode_cursor
from server.app import create_app
from server.database import tortoise_config
from server.settings import Settings

SIZES = {
    "1x": [],
    "100x": [
        "--categories", "500", "--products", "200000", "--users", "50000",
        "--reviews", "2000000", "--orders", "200000",
    ],
}  # fmt: skip
EXPECTED_PRODUCTS = {"1x": 2000, "100x": 200_000}

LISTING = """query($filter: ProductFilter, $orderBy: ProductOrder, $after: String) {
  products(first: 20, filter: $filter, orderBy: $orderBy, after: $after) {
    totalCount totalCountPrecision pageInfo { hasNextPage endCursor }
    edges { node { id name price { amount } category { name }
      reviews(first: 5) { edges { node { rating author { name } } } } } } } }"""
TREE = """{ categories(first: 20, rootsOnly: true) { edges { node { name
  children(first: 20) { totalCount edges { node { name
    children(first: 20) { edges { node { name } } } } } } } } } }"""
PRODUCT = """query($slug: String!) { product(slug: $slug) { name price { amount } stock
  category { name } reviews(first: 20) { totalCount edges { node { rating body
  author { name } } } } } }"""
MY_ORDERS = """{ me { orders(first: 20) { totalCount edges { node { number status
  total { amount } items { quantity product { name } } } } } } }"""


@dataclass
class Query:
    name: str
    document: str
    variables: dict[str, Any]
    signed_in: bool = False


def queries(middle_name: str, slug: str) -> list[Query]:
    found = [
        Query(f"listing by {field.lower()} {direction.lower()}", LISTING,
              {"orderBy": {"field": field, "direction": direction}})
        for field in ("NAME", "PRICE", "CREATED_AT", "AVERAGE_RATING")
        for direction in ("ASC", "DESC")
    ]  # fmt: skip
    found += [
        Query("search navy", LISTING, {"filter": {"search": "Navy"}}),
        Query("search nav (prefix)", LISTING, {"filter": {"search": "nav"}}),
        Query(
            "search by relevance",
            LISTING,
            {
                "filter": {"search": "navy mug"},
                "orderBy": {"field": "RELEVANCE", "direction": "ASC"},
            },
        ),
        Query("search, no match", LISTING, {"filter": {"search": "zeppelin"}}),
        Query(
            "price range, in stock",
            LISTING,
            {"filter": {"minPrice": "10", "maxPrice": "20", "inStock": True}},
        ),
        Query("out of stock", LISTING, {"filter": {"inStock": False}}),
        Query(
            "deep page by cursor",
            LISTING,
            {"after": encode_cursor("products:NAME:asc", (middle_name, 1))},
        ),
        Query("category tree", TREE, {}),
        Query("product page", PRODUCT, {"slug": slug}),
        Query("my orders", MY_ORDERS, {}, signed_in=True),
    ]
    return found


@dataclass
class Measured:
    p50: float
    p99: float
    statements: int
    plan: str


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def ready(database: BenchmarkDatabase, size: str) -> None:
    """Seed `database` unless it holds this size's catalog already, then vacuum it.

    A server's autovacuum keeps a catalog's visibility map current (index-only scans need
    it, a count of out-of-stock products for one); the CI server has autovacuum off, so
    the benchmark vacuums as issue 11 measured ("then VACUUM ANALYZE"). Quick when
    nothing changed.
    """
    await seeded(database, size)
    connection = await asyncpg.connect(database.url)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def seeded(database: BenchmarkDatabase, size: str) -> None:
    """Seed `database` unless it holds this size's catalog already."""
    try:
        connection = await asyncpg.connect(database.url)
    except asyncpg.InvalidCatalogNameError:
        connection = None
    if connection is not None:
        try:
            products = await connection.fetchval("SELECT count(*) FROM product")
        except asyncpg.UndefinedTableError:
            products = None
        finally:
            await connection.close()
        if products == EXPECTED_PRODUCTS[size]:
            print(f"scale: reusing {database.name}", file=sys.stderr)
            # Migrations added since it was seeded (a no-op when there are none).
            database.storefront("migrate")
            return
    await database.create()
    database.storefront("migrate")
    started = time.perf_counter()
    peak = seed_with_peak_memory(database, SIZES[size])
    print(
        f"scale: seeded {size} in {time.perf_counter() - started:.0f} s, "
        f"peak memory {peak / 2**20:.0f} MB",
        file=sys.stderr,
    )


def seed_with_peak_memory(database: BenchmarkDatabase, sizes: list[str]) -> int:
    """Run `storefront seed` with these sizes; its peak resident memory in bytes."""
    env = {**os.environ, "DATABASE_URL": database.url, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "seed", *sizes], env=env, cwd=ROOT
    )
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, watched.memory_info().rss)
        time.sleep(0.2)
    if process.returncode:
        raise SystemExit(f"seed failed with {process.returncode}")
    return peak


class Recorder:
    """The statements of one request, with their values, for EXPLAIN."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[Any]]] = []
        connection = get_connection("default")
        self._execute = connection.execute_query

        async def recording(query: str, values: list[Any] | None = None) -> Any:
            self.statements.append((query, list(values or [])))
            return await self._execute(query, values)

        connection.execute_query = recording  # type: ignore[method-assign]

    async def largest_plan(self) -> str:
        """Whether the slowest statement's plan reads a whole table, and its time."""
        timed = []
        for statement, values in self.statements:
            started = time.perf_counter()
            _, rows = await self._execute(f"EXPLAIN (FORMAT JSON) {statement}", values)
            timed.append((time.perf_counter() - started, rows))
        if not timed:
            return "-"
        _, rows = max(timed, key=lambda pair: pair[0])
        plan = rows[0][0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        scans = sorted(set(_seq_scans(plan[0]["Plan"])))
        return f"seq scan {','.join(scans)}" if scans else "index"


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


async def measure(
    url: str, requests: int, clients: int, token: str
) -> tuple[dict[str, Measured], dict[str, float]]:
    settings = replace(Settings(), database_url=url, max_query_cost=100_000)
    await Tortoise.init(config=tortoise_config(url, settings.database_timeout))
    try:
        connection = get_connection("default")
        _, rows = await connection.execute_query(
            "SELECT name FROM product ORDER BY name, id OFFSET (SELECT count(*) / 2 FROM product) "
            "LIMIT 1"
        )
        middle = rows[0][0]
        _, rows = await connection.execute_query("SELECT slug FROM product ORDER BY id LIMIT 1")
        slug = rows[0][0]
        app = create_app(settings, manage_database=False, sweep_orders=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            single = {
                query.name: await _one_client(http, query, requests, token)
                for query in queries(middle, slug)
            }
            loaded = await _many_clients(http, queries(middle, slug), requests, clients, token)
    finally:
        await Tortoise.close_connections()
    return single, loaded


async def _post(http: httpx.AsyncClient, query: Query, token: str) -> None:
    headers = {"authorization": f"Bearer {token}"} if query.signed_in else {}
    response = await http.post(
        "/graphql", json={"query": query.document, "variables": query.variables}, headers=headers
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise SystemExit(f"{query.name}: {response.status_code} {body}")


async def _one_client(http: httpx.AsyncClient, query: Query, requests: int, token: str) -> Measured:
    recorder = Recorder()
    await _post(http, query, token)
    statements = len(recorder.statements)
    plan = await recorder.largest_plan()
    get_connection("default").execute_query = recorder._execute  # type: ignore[method-assign]
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        await _post(http, query, token)
        times.append((time.perf_counter() - started) * 1000)
    return Measured(percentile(times, 0.5), percentile(times, 0.99), statements, plan)


async def _many_clients(
    http: httpx.AsyncClient, all_queries: list[Query], requests: int, clients: int, token: str
) -> dict[str, float]:
    """p99 per query while `clients` clients each send every query in turn."""
    times: dict[str, list[float]] = {query.name: [] for query in all_queries}

    async def client(offset: int) -> None:
        for number in range(requests // 4):
            query = all_queries[(offset + number) % len(all_queries)]
            started = time.perf_counter()
            await _post(http, query, token)
            times[query.name].append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client(offset) for offset in range(clients)))
    return {name: percentile(values, 0.99) for name, values in times.items() if values}


def report(results: dict[str, tuple[dict[str, Measured], dict[str, float]]]) -> None:
    small, small_loaded = results["1x"]
    large, large_loaded = results["100x"]
    print(
        f"{'query':32} {'1x p50':>8} {'1x p99':>8} {'100x p50':>9} {'100x p99':>9} "
        f"{'growth':>7} {'SQL':>4}  {'largest statement, 100x':24} {'8 clients p99 (1x/100x)':>24}"
    )
    for name, measured in large.items():
        base = small[name]
        growth = measured.p50 / base.p50 if base.p50 else float("nan")
        loaded = f"{small_loaded.get(name, 0):.1f} / {large_loaded.get(name, 0):.1f}"
        print(
            f"{name:32} {base.p50:8.1f} {base.p99:8.1f} {measured.p50:9.1f} "
            f"{measured.p99:9.1f} {growth:6.2f}x {measured.statements:4}  {measured.plan:24} "
            f"{loaded:>24}"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_admin_url(parser)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument(
        "--database-prefix",
        default="storefront_scale",
        help="names of the two databases, before _1x and _100x (two runs side by side)",
    )
    args = parser.parse_args()
    results = {}
    for size in SIZES:
        database = BenchmarkDatabase(args.admin_url, f"{args.database_prefix}_{size}")
        await ready(database, size)
        token = database.storefront(
            "issue-token", "--user", "user0001@example.com", "--scopes", "profile orders:read"
        ).strip()
        results[size] = await measure(database.url, args.requests, args.clients, token)
        if not args.keep_databases:
            await database.drop()
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

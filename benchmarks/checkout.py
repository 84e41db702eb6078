"""`placeOrder` throughput on PostgreSQL.

    .venv/bin/python -m benchmarks.checkout [--clients 32] [--duration 10] [--instances 1]

Creates a fresh database, migrates it, creates a customer (`storefront create-user`)
and a token for them (`storefront issue-token`), inserts products with stock to spare,
then starts the service (`--instances` uvicorn processes, one worker each) and keeps
`--clients` `placeOrder` calls in flight, spread over the instances, for `--warmup`
plus `--duration` seconds, measuring the latter. Two workloads:

- `spread`: each order takes one unit of each of 1 to 3 products out of 200, so orders
  rarely wait on one another;
- `hot`: every order takes one unit of the same product, so every transaction waits on
  that one row: the worst case for the stock lock.

Prints orders per second, latency percentiles and server CPU per order, and checks that
the stock sold equals what the placed orders hold. Drops the database at the end. The
load generator shares the machine with the servers and PostgreSQL, so the figures are a
floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import asyncpg
import orjson

from benchmarks.database import BenchmarkDatabase, add_admin_url, on_fresh_database
from benchmarks.load import Connection, ProtocolError
from benchmarks.servers import SERVICE, Server, running
from benchmarks.token_endpoint import percentile
from schema.relay import to_global_id

PLACE = (
    "mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) "
    "{ order { id } userErrors { code } } }"
)
EMAIL = "bench-customer@example.com"
PRODUCTS = 200
STOCK = 1_000_000_000


class AuthorizedConnection(Connection):
    """A keep-alive connection whose requests carry the customer's bearer token."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url)
        self.head += f"authorization: Bearer {token}\r\n".encode()


@dataclass
class Tally:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    placed: int = 0
    refused: int = 0
    failed: int = 0
    first_failure: str | None = None


def spread_bodies(product_ids: list[int]) -> Iterator[bytes]:
    """Orders of 1 to 3 distinct products, in a fixed pseudo-random sequence."""
    for number in itertools.count():
        size = 1 + number % 3
        picks = {
            product_ids[(number * 7919 + index * 104_729) % len(product_ids)]
            for index in range(size)
        }
        yield _body(sorted(picks))


def hot_bodies(product_ids: list[int]) -> Iterator[bytes]:
    return itertools.repeat(_body(product_ids[:1]))


def _body(product_ids: list[int]) -> bytes:
    items = [{"productId": to_global_id("Product", id_), "quantity": 1} for id_ in product_ids]
    return orjson.dumps({"query": PLACE, "variables": {"input": {"items": items}}})


async def _client(
    connection: AuthorizedConnection,
    bodies: Iterator[bytes],
    measuring: Callable[[], bool | None],
    tally: Tally,
) -> None:
    """Places orders until `measuring()` is None; counts those finished while it is True."""
    try:
        while (phase := measuring()) is not None:
            started = time.perf_counter()
            try:
                status, body = await connection.post(next(bodies))
                failure = None if status == 200 and b'"errors"' not in body else body[:300]
            except (OSError, EOFError, asyncio.IncompleteReadError, ProtocolError) as error:
                status, body, failure = 0, b"", str(error).encode()
            if not (phase and measuring()):
                continue
            tally.latencies.append(time.perf_counter() - started)
            if failure is not None:
                tally.failed += 1
                tally.first_failure = tally.first_failure or failure.decode(errors="replace")
            elif b'"userErrors":[]' in body:
                tally.placed += 1
            else:
                tally.refused += 1
    finally:
        connection.close()


async def drive(
    servers: list[Server], token: str, bodies: Iterator[bytes], args: argparse.Namespace
) -> tuple[Tally, float]:
    """The tally of the measured window, and the servers' CPU seconds spent in it."""
    tally = Tally()
    phase: list[bool | None] = [False]
    connections = [
        AuthorizedConnection(f"{servers[index % len(servers)].base_url}/graphql", token)
        for index in range(args.clients)
    ]
    tasks = [
        asyncio.create_task(_client(connection, bodies, lambda: phase[0], tally))
        for connection in connections
    ]
    await asyncio.sleep(args.warmup)
    cpu_before = sum(server.cpu_seconds() for server in servers)
    started = time.perf_counter()
    phase[0] = True
    await asyncio.sleep(args.duration)
    phase[0] = None
    tally.seconds = time.perf_counter() - started
    cpu = sum(server.cpu_seconds() for server in servers) - cpu_before
    await asyncio.gather(*tasks)
    return tally, cpu


async def insert_products(database: BenchmarkDatabase) -> list[int]:
    connection = await asyncpg.connect(database.url)
    try:
        rows = await connection.fetch(
            "INSERT INTO product (sku, name, slug, description, price_minor, currency, stock, "
            "review_count, rating_total, rating_average, created_at, updated_at) "
            "SELECT 'BENCH-' || n, 'Bench product ' || n, 'bench-product-' || n, '', "
            "100 + n, 'USD', $2, 0, 0, 0, now(), now() FROM generate_series(1, $1) AS n "
            "RETURNING id",
            PRODUCTS,
            STOCK,
        )
    finally:
        await connection.close()
    return sorted(row["id"] for row in rows)


async def sold_and_ordered(database: BenchmarkDatabase) -> tuple[int, int]:
    """Units taken from stock, and units in the orders: they must be equal."""
    connection = await asyncpg.connect(database.url)
    try:
        sold = await connection.fetchval("SELECT sum($1 - stock) FROM product", STOCK)
        ordered = await connection.fetchval("SELECT coalesce(sum(quantity), 0) FROM order_item")
    finally:
        await connection.close()
    return int(sold), int(ordered)


def report(name: str, tally: Tally, cpu: float, args: argparse.Namespace) -> None:
    answered = len(tally.latencies)
    latencies = tally.latencies or [0.0]
    print(
        f"{name}: {tally.placed / tally.seconds:,.0f} orders/s "
        f"({tally.placed} placed, {tally.refused} refused, {tally.failed} failed in "
        f"{tally.seconds:.1f} s; {args.clients} clients, {args.instances} instance(s))\n"
        f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; "
        f"server CPU {cpu / max(answered, 1) * 1000:.2f} ms per request"
    )
    if tally.first_failure:
        print(f"  first failure: {tally.first_failure}")


async def benchmark(args: argparse.Namespace, database: BenchmarkDatabase) -> bool:
    database.storefront("migrate")
    token = database.customer_token(EMAIL, "orders:write")
    product_ids = await insert_products(database)
    workloads = {"spread": spread_bodies(product_ids), "hot": hot_bodies(product_ids)}
    healthy = True
    # One customer places every order: measure checkout, not the units-held limit. Their
    # checkouts take turns (a lock on the customer), so the figures are a floor for what
    # many customers get.
    os.environ["MAX_UNITS_HELD_PER_CUSTOMER"] = str(STOCK)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(running(SERVICE, database.url)) for _ in range(args.instances)
        ]
        for name, bodies in workloads.items():
            tally, cpu = await drive(servers, token, bodies, args)
            report(name, tally, cpu, args)
            healthy = healthy and not tally.failed and not tally.refused
    sold, ordered = await sold_and_ordered(database)
    print(f"stock taken {sold:,} units, orders hold {ordered:,} units")
    return healthy and sold == ordered


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkout", description=__doc__)
    parser.add_argument("--clients", type=int, default=32, help="placeOrder calls in flight")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first")
    parser.add_argument("--instances", type=int, default=1, help="service processes")
    add_admin_url(parser)
    args = parser.parse_args()
    healthy = on_fresh_database(
        args.admin_url,
        f"storefront_bench_checkout_{os.getpid()}",
        lambda database: benchmark(args, database),
    )
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()

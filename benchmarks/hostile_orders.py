"""How long the service takes to refuse the hostile orders of issue 7, item 1.

    .venv/bin/python -m benchmarks.hostile_orders [--requests 200]

Creates a fresh PostgreSQL database, migrates it, creates a customer and a token for them,
inserts 50 products, starts the service (one uvicorn worker) and sends, one at a time:

- `36 aliases`: the drain attack, 36 aliased `placeOrder`s of 50 lines each (refused
  with QUERY_TOO_COMPLEX before anything runs);
- `over the limit`: one `placeOrder` of 101 units (LIMIT_EXCEEDED: a transaction that
  locks the customer, reads what they hold and writes nothing);
- `one placeOrder`, for comparison: an order of one unit, then the same key again (so
  the customer never reaches the limit), i.e. a full checkout then an idempotent replay;
- `{ __typename }`: the floor of a request through the whole stack.

Prints the median and 95th percentile latency of each, and checks that the hostile
requests changed no stock. Drops the database at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import asyncpg
import httpx

from benchmarks.checkout import EMAIL, STOCK, insert_products
from benchmarks.database import BenchmarkDatabase, add_admin_url, on_fresh_database
from benchmarks.servers import SERVICE, running
from benchmarks.token_endpoint import percentile
from schema.relay import to_global_id

LINES = 50


def drain(count: int) -> str:
    fields = " ".join(f"o{n}: placeOrder(input: $input) {{ order {{ id }} }}" for n in range(count))
    return f"mutation Drain($input: PlaceOrderInput!) {{ {fields} }}"


PLACE = (
    "mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) "
    "{ order { id } userErrors { code } } }"
)


async def timed(
    http: httpx.AsyncClient, body: dict[str, Any], requests: int, expect: bytes
) -> list[float]:
    """Latencies of `requests` POSTs of `body`, one at a time; each answer contains
    `expect`."""
    latencies = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await http.post("/graphql", json=body)
        latencies.append(time.perf_counter() - started)
        if expect not in response.content:
            raise SystemExit(f"unexpected answer: {response.status_code} {response.text[:300]}")
    return latencies


def report(name: str, latencies: list[float]) -> None:
    print(
        f"{name:<16} median {statistics.median(latencies) * 1000:7.2f} ms   "
        f"p95 {percentile(latencies, 0.95) * 1000:7.2f} ms   ({len(latencies)} requests)"
    )


async def benchmark(args: argparse.Namespace, database: BenchmarkDatabase) -> bool:
    database.storefront("migrate")
    token = database.customer_token(EMAIL, "orders:write")
    product_ids = await insert_products(database)
    items = [{"productId": to_global_id("Product", id_), "quantity": 1} for id_ in product_ids]
    many = {"items": items[:LINES]}
    headers = {"authorization": f"Bearer {token}"}
    with running(SERVICE, database.url) as server:
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as http:
            await timed(http, {"query": "{ __typename }"}, 20, b"Query")  # warm up
            cases = {
                "36 aliases": (
                    {"query": drain(36), "variables": {"input": many}},
                    b"QUERY_TOO_COMPLEX",
                ),
                "over the limit": (
                    {
                        "query": PLACE,
                        "variables": {"input": {"items": [{**items[0], "quantity": 101}]}},
                    },
                    b"LIMIT_EXCEEDED",
                ),
                "one placeOrder": (
                    {
                        "query": PLACE,
                        "variables": {"input": {"items": items[:1], "idempotencyKey": "k"}},
                    },
                    b'"userErrors":[]',
                ),
                "{ __typename }": ({"query": "{ __typename }"}, b"Query"),
            }
            for name, (body, expect) in cases.items():
                report(name, await timed(http, body, args.requests, expect))
    connection = await asyncpg.connect(database.url)
    try:
        taken = await connection.fetchval("SELECT count(*) FROM product WHERE stock < $1", STOCK)
    finally:
        await connection.close()
    print(f"products whose stock changed: {taken} (the one order of one unit)")
    return bool(taken == 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind")
    add_admin_url(parser)
    args = parser.parse_args()
    healthy = on_fresh_database(
        args.admin_url,
        f"storefront_bench_hostile_{os.getpid()}",
        lambda database: benchmark(args, database),
    )
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()

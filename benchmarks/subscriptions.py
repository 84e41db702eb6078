"""Subscriptions: memory per idle subscriber, delivery latency across two instances, and
SQL statements per event under fan-out.

Needs PostgreSQL (as the other benchmarks) and Redis (`--redis-url`, default
redis://127.0.0.1:6379/0). Two service instances run under uvicorn with `REDIS_URL` set,
on one fresh database:

1. memory: `--subscribers` WebSocket connections to instance A, one `inventoryChanged`
   subscription each, idle; A's resident memory before and after, per subscriber, and
   how many such subscribers fit in 150 MB above the idle process;
2. latency: `--orders` placeOrder calls on instance B, one after another, for the
   product all subscribers on A follow; for each event and each subscriber, the time
   from sending placeOrder to the event's arrival (the commit is inside that window, so
   this bounds commit-to-client from above), p50 and p99;
3. statements: the service in this process, `--subscribers` subscriptions over the
   ASGI WebSocket transport, SQL statements counted for one event.

    .venv/bin/python -m benchmarks.subscriptions [--subscribers 1000 --orders 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from benchmarks.checkout import percentile
from benchmarks.database import BenchmarkDatabase, add_admin_url, on_fresh_database
from benchmarks.servers import SERVICE, running
from schema.relay import to_global_id

EMAIL = "bench-subscriber@example.com"
MB = 1024 * 1024
SUBSCRIPTION = (
    "subscription($ids: [ID!]) { inventoryChanged(productIds: $ids) "
    "{ stock delta product { name price { amount } } } }"
)
PLACE = (
    "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) "
    "{ order { number } userErrors { code } } }"
)


async def subscriber(url: str, product_gid: str) -> ClientConnection:
    """One acknowledged connection with one subscription."""
    socket = await websockets.connect(
        url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], open_timeout=30
    )
    await socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
    ack = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
    assert ack["type"] == "connection_ack", ack
    await socket.send(
        orjson.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"ids": [product_gid]}},
            }
        ).decode()
    )
    return socket


async def open_subscribers(url: str, product_gid: str, count: int) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, count, 50):
        batch = min(50, count - start)
        sockets += await asyncio.gather(*(subscriber(url, product_gid) for _ in range(batch)))
    return sockets


async def arrival(socket: ClientConnection) -> float:
    message = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
    assert message["type"] == "next", message
    return time.perf_counter()


async def latencies(
    sockets: list[ClientConnection], base_b: str, token: str, product_gid: str, orders: int
) -> list[float]:
    found: list[float] = []
    body = {
        "query": PLACE,
        "variables": {"input": {"items": [{"productId": product_gid, "quantity": 1}]}},
    }
    async with httpx.AsyncClient(base_url=base_b, timeout=30) as http:
        for _ in range(orders):
            waiting = [asyncio.ensure_future(arrival(socket)) for socket in sockets]
            sent = time.perf_counter()
            response = await http.post(
                "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.json()["data"]["placeOrder"]["userErrors"] == [], response.text
            found += [arrived - sent for arrived in await asyncio.gather(*waiting)]
            await asyncio.sleep(0.05)
    return found


async def product_ids(database: BenchmarkDatabase) -> list[int]:
    connection = await asyncpg.connect(database.url)
    try:
        rows = await connection.fetch(
            "INSERT INTO product (sku, name, slug, description, price_minor, currency, stock, "
            "review_count, rating_total, rating_average, created_at, updated_at) "
            "SELECT 'SUB-' || n, 'Followed ' || n, 'followed-' || n, '', 1000, 'USD', "
            "1000000, 0, 0, 0, now(), now() FROM generate_series(1, 2) AS n RETURNING id"
        )
    finally:
        await connection.close()
    return sorted(row["id"] for row in rows)


async def live(args: argparse.Namespace, database: BenchmarkDatabase, product: int) -> None:
    token = database.customer_token(EMAIL, "orders:write")
    product_gid = to_global_id("Product", product)
    os.environ["REDIS_URL"] = args.redis_url
    # Every benchmark client comes from one address, as anonymous callers.
    os.environ["MAX_CONNECTIONS_PER_CALLER"] = str(args.subscribers + 10)
    with running(SERVICE, database.url) as a, running(SERVICE, database.url) as b:
        url = a.base_url.replace("http://", "ws://") + "/graphql"
        warm = await open_subscribers(url, product_gid, 5)
        await latencies(warm, b.base_url, token, product_gid, 3)  # load everything once
        for socket in warm:
            await socket.close()
        await asyncio.sleep(1)
        before = a.process.memory_info().rss
        sockets = await open_subscribers(url, product_gid, args.subscribers)
        await asyncio.sleep(2)
        after = a.process.memory_info().rss
        per = (after - before) / args.subscribers
        print(
            f"memory: instance A {before / MB:.1f} MB idle, {after / MB:.1f} MB with "
            f"{args.subscribers} idle subscribers: {per / 1024:.1f} KiB per subscriber "
            f"(one connection, one subscription); 150 MB hold about "
            f"{int(150 * MB / per):,} of them"
        )
        found = await latencies(sockets, b.base_url, token, product_gid, args.orders)
        print(
            f"latency, placeOrder sent on B to event received on A, {args.subscribers} "
            f"subscribers x {args.orders} orders: p50 {statistics.median(found) * 1000:.1f} ms, "
            f"p99 {percentile(found, 0.99) * 1000:.1f} ms, max {max(found) * 1000:.1f} ms"
        )
        await asyncio.gather(*(socket.close() for socket in sockets))


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().lstrip().upper().startswith(("SELECT", "WITH")):
            self.count += 1


@contextlib.asynccontextmanager
async def in_process(database_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    from httpx_ws.transport import ASGIWebSocketTransport
    from tortoise import Tortoise

    from server.app import create_app
    from server.database import tortoise_config
    from server.settings import Settings

    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    settings = Settings(database_url=database_url, max_connections_per_caller=1_000_000)
    app = create_app(settings, manage_database=False)
    try:
        transport = ASGIWebSocketTransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            yield app, http
    finally:
        await Tortoise.close_connections()


async def statements(args: argparse.Namespace, database: BenchmarkDatabase, product: int) -> None:
    from httpx_ws import aconnect_ws

    product_gid = to_global_id("Product", product)
    per_socket = 10
    async with in_process(database.url) as (app, http), contextlib.AsyncExitStack() as stack:
        sockets = []
        for _ in range(args.subscribers // per_socket):
            socket = await stack.enter_async_context(
                aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"])
            )
            await socket.send_json({"type": "connection_init", "payload": {}})
            await socket.receive_json(timeout=30)
            for index in range(per_socket):
                payload = {"query": SUBSCRIPTION, "variables": {"ids": [product_gid]}}
                await socket.send_json({"id": str(index), "type": "subscribe", "payload": payload})
            sockets.append(socket)
        await asyncio.sleep(1)
        counter = _Counter()
        logger = logging.getLogger("tortoise.db_client")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(counter)
        await app.state.broker.publish_inventory([(product, -1)])
        for socket in sockets:
            for _ in range(per_socket):
                await socket.receive_json(timeout=60)
        logger.removeHandler(counter)
        print(
            f"statements: one event to {len(sockets) * per_socket} subscribers in one "
            f"process ran {counter.count} SQL statement(s)"
        )


async def benchmark(args: argparse.Namespace, database: BenchmarkDatabase) -> None:
    database.storefront("migrate")
    product = (await product_ids(database))[0]
    await live(args, database, product)
    await statements(args, database, product)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.subscriptions", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=30, help="events measured")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    add_admin_url(parser)
    args = parser.parse_args()
    on_fresh_database(
        args.admin_url,
        f"storefront_bench_subscriptions_{os.getpid()}",
        lambda database: benchmark(args, database),
    )


if __name__ == "__main__":
    main()

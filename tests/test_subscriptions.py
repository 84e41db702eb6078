"""Subscriptions over WebSocket (graphql-transport-ws), with real tokens: events after
placeOrder, cancelOrder, updateOrderStatus and product changes; who may follow what;
the socket's admission, token expiry and limits; statements per event under fan-out
(on SQLite and PostgreSQL). Then real servers: two instances sharing PostgreSQL and
Redis, and a Redis outage in the middle of a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, WebSocketUpgradeError, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from events import EventsUnavailable
from models.catalog import Category, Product
from resolvers.orders import new_public_id
from schema.relay import to_global_id
from server.persisted import ManifestOperation, register_operations, sha256_hex
from server.settings import Settings
from tests import factories
from tests.conftest import (
    REDIS_URL,
    StatementCounter,
    free_port,
    port_open,
    require_service,
    start_server,
    stop_server,
    wait_healthy,
)
from tests.factories import add_review, make_product, make_user
from tests.oauth import make_app, make_client
from tests.test_orders import (
    ALL_SCOPES,
    CUSTOMER_SCOPES,
    PLACE,
    UPDATE_STATUS,
    Shop,
    lines,
    make_order,
)

PROTOCOL = "graphql-transport-ws"

INVENTORY = """
subscription Stock($ids: [ID!]) {
  inventoryChanged(productIds: $ids) { stock delta product { sku stock } }
}
"""
ORDER_STATUS = """
subscription Status($id: ID!) {
  orderStatusChanged(orderId: $id) { number status items { quantity product { sku } } }
}
"""
CANCEL = """
mutation Cancel($id: ID!) {
  cancelOrder(input: {id: $id}) { order { status } userErrors { code } }
}
"""
UPDATE_PRODUCT = """
mutation Update($id: ID!, $stock: Int!) {
  updateProduct(input: {id: $id, stock: $stock}) { product { stock } userErrors { code } }
}
"""


class Socket:
    """One graphql-transport-ws connection, as a client library drives it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def receive(self, seconds: float = 10) -> dict[str, Any]:
        message: dict[str, Any] = await self.ws.receive_json(timeout=seconds)
        return message

    async def subscribe(self, id_: str, query: str, variables: dict[str, Any]) -> None:
        await self.ws.send_json(
            {"id": id_, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def next_payload(self, seconds: float = 10) -> dict[str, Any]:
        message = await self.receive(seconds)
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        return payload

    async def closed(self, seconds: float = 15) -> tuple[int, str]:
        """The close code and reason the server ends the connection with."""
        try:
            while True:
                await self.ws.receive_json(timeout=seconds)
        except WebSocketDisconnect as closing:
            return closing.code, closing.reason or ""


@contextlib.asynccontextmanager
async def connect(
    http: httpx.AsyncClient, token: str | None = None, *, ack: bool = True, base: str = ""
) -> AsyncIterator[Socket]:
    async with aconnect_ws(f"{base}/graphql", http, subprotocols=[PROTOCOL]) as ws:
        socket = Socket(ws)
        params = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send_json({"type": "connection_init", "payload": params})
        if ack:
            message = await socket.receive()
            assert message == {"type": "connection_ack"}, message
        yield socket


@contextlib.asynccontextmanager
async def socket_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that also opens WebSockets to `app` in process."""
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@contextlib.asynccontextmanager
async def shop_for(settings: Settings) -> AsyncIterator[Shop]:
    app = make_app(settings)
    async with socket_client(app) as http:
        web = await make_client(f"{ALL_SCOPES} catalog:write")
        users = {
            "ann": await make_user("ann@example.com"),
            "bob": await make_user("bob@example.com"),
            "staff": await make_user("staff@example.com", staff=True),
        }
        products = [
            await make_product(1, stock=10),
            await make_product(2, stock=5),
        ]
        yield Shop(app, http, web.client_id, users, products)


def gid(product: Product) -> str:
    return to_global_id("Product", product.id)


def error_codes(message: dict[str, Any]) -> list[str]:
    assert message["type"] == "error", message
    return [error["extensions"]["code"] for error in message["payload"]]


# ---------------------------------------------------------------- events


async def test_inventory_events_follow_orders_cancellations_and_staff(settings: Settings) -> None:
    async with shop_for(settings) as shop:
        first, second = shop.products
        token = await shop.token()
        async with connect(shop.http) as one, connect(shop.http) as everything:
            await one.subscribe("1", INVENTORY, {"ids": [gid(first)]})
            await everything.subscribe("1", INVENTORY, {})
            await asyncio.sleep(0.1)

            placed = await shop.place(token, [(first, 2), (second, 1)])
            assert placed["userErrors"] == []
            event = (await one.next_payload())["data"]["inventoryChanged"]
            assert event == {"stock": 8, "delta": -2, "product": {"sku": first.sku, "stock": 8}}
            seen = [(await everything.next_payload())["data"]["inventoryChanged"] for _ in range(2)]
            assert sorted((e["product"]["sku"], e["delta"]) for e in seen) == [
                (first.sku, -2),
                (second.sku, -1),
            ]

            cancelled = await shop.call(CANCEL, {"id": placed["order"]["id"]}, token)
            assert cancelled["data"]["cancelOrder"]["order"]["status"] == "CANCELLED"
            event = (await one.next_payload())["data"]["inventoryChanged"]
            assert (event["stock"], event["delta"]) == (10, 2)

            staff = await shop.token("staff", "catalog:write")
            updated = await shop.call(UPDATE_PRODUCT, {"id": gid(first), "stock": 25}, staff)
            assert updated["data"]["updateProduct"]["userErrors"] == []
            event = (await one.next_payload())["data"]["inventoryChanged"]
            assert (event["stock"], event["delta"]) == (25, 15)


async def test_a_refused_order_publishes_nothing(settings: Settings) -> None:
    async with shop_for(settings) as shop:
        first, second = shop.products
        token = await shop.token()
        async with connect(shop.http) as socket:
            await socket.subscribe("1", INVENTORY, {})
            await asyncio.sleep(0.1)
            refused = await shop.place(token, [(first, 1), (second, 50)])
            assert refused["userErrors"][0]["code"] == "OUT_OF_STOCK"
            await shop.place(token, [(second, 1)])
            event = (await socket.next_payload())["data"]["inventoryChanged"]
            assert (event["product"]["sku"], event["delta"]) == (second.sku, -1)


async def test_order_status_changes_reach_the_customer_and_staff(settings: Settings) -> None:
    async with shop_for(settings) as shop:
        order = await make_order(shop.users["ann"], shop.products[0], 3)
        order_gid = to_global_id("Order", order.public_id)
        customer = await shop.token()
        staff = await shop.token("staff", ALL_SCOPES)
        async with connect(shop.http, customer) as mine, connect(shop.http, staff) as theirs:
            await mine.subscribe("a", ORDER_STATUS, {"id": order_gid})
            await theirs.subscribe("b", ORDER_STATUS, {"id": order_gid})
            await asyncio.sleep(0.1)
            moved = await shop.call(UPDATE_STATUS, {"id": order_gid, "status": "PAID"}, staff)
            assert moved["data"]["updateOrderStatus"]["userErrors"] == []
            for socket in (mine, theirs):
                event = (await socket.next_payload())["data"]["orderStatusChanged"]
                assert event["status"] == "PAID"
                assert event["items"] == [{"quantity": 3, "product": {"sku": shop.products[0].sku}}]


async def test_following_an_order_is_refused_to_others_alike(settings: Settings) -> None:
    async with shop_for(settings) as shop:
        order = await make_order(shop.users["ann"], shop.products[0])
        bob = await shop.token("bob")
        missing = to_global_id("Order", new_public_id())
        async with connect(shop.http, bob) as socket:
            await socket.subscribe(
                "other", ORDER_STATUS, {"id": to_global_id("Order", order.public_id)}
            )
            someone_elses = await socket.receive()
            await socket.subscribe("missing", ORDER_STATUS, {"id": missing})
            nobodys = await socket.receive()
        assert error_codes(someone_elses) == error_codes(nobodys) == ["NOT_FOUND"]
        assert someone_elses["payload"][0]["message"] == nobodys["payload"][0]["message"]
        async with connect(shop.http) as anonymous:
            await anonymous.subscribe(
                "1", ORDER_STATUS, {"id": to_global_id("Order", order.public_id)}
            )
            assert error_codes(await anonymous.receive()) == ["UNAUTHENTICATED"]
        no_scope = await shop.token("ann", "profile")
        async with connect(shop.http, no_scope) as socket:
            await socket.subscribe(
                "1", ORDER_STATUS, {"id": to_global_id("Order", order.public_id)}
            )
            assert error_codes(await socket.receive()) == ["FORBIDDEN"]


# ---------------------------------------------------------------- the socket


async def test_a_bad_token_is_refused_with_4403(bare_settings: Settings) -> None:
    async with socket_client(make_app(bare_settings)) as http:
        async with connect(http, "not-a-token", ack=False) as socket:
            code, reason = await socket.closed()
        assert code == 4403
        assert "Forbidden" in reason


async def test_the_socket_of_an_expiring_token_closes_with_4403(settings: Settings) -> None:
    async with shop_for(replace(settings, access_token_seconds=2)) as shop:
        token = await shop.token()
        async with connect(shop.http, token) as socket:
            await socket.subscribe("1", INVENTORY, {})
            started = time.monotonic()
            code, reason = await socket.closed(seconds=20)
    assert code == 4403
    assert "expired" in reason
    assert time.monotonic() - started < 10


async def test_the_socket_of_a_revoked_token_closes_with_4403(settings: Settings) -> None:
    async with shop_for(replace(settings, subscription_auth_seconds=1)) as shop:
        token = await shop.token()
        async with connect(shop.http, token) as socket:
            await socket.subscribe("1", INVENTORY, {})
            revoked = await shop.http.post(
                "/oauth/revoke", data={"token": token, "client_id": shop.web_client_id}
            )
            assert revoked.status_code == 200
            code, reason = await socket.closed(seconds=20)
    assert code == 4403
    assert "not valid" in reason


async def handshake(http: httpx.AsyncClient, origin: str) -> bool:
    """Whether a browser page on `origin` may open the WebSocket."""
    accepted = False
    try:
        async with aconnect_ws(
            "/graphql", http, subprotocols=[PROTOCOL], headers={"Origin": origin}
        ):
            accepted = True
    except* (WebSocketUpgradeError, WebSocketDisconnect):
        pass
    return accepted


async def test_pages_of_the_allowed_origins_may_subscribe(bare_settings: Settings) -> None:
    allowed = replace(bare_settings, cors_origins=("https://shop.example",))
    async with socket_client(make_app(allowed)) as http:
        assert await handshake(http, "https://shop.example")
        assert not await handshake(http, "https://elsewhere.example")


async def test_subscriptions_per_connection_are_limited(bare_settings: Settings) -> None:
    limited = replace(bare_settings, max_subscriptions_per_connection=2)
    async with socket_client(make_app(limited)) as http, connect(http) as socket:
        await socket.subscribe("1", INVENTORY, {})
        await socket.subscribe("2", INVENTORY, {})
        await socket.subscribe("3", INVENTORY, {})
        refused = await socket.receive()
    assert refused["id"] == "3"
    assert error_codes(refused) == ["RATE_LIMITED"]


async def test_connections_per_caller_are_limited(settings: Settings) -> None:
    async with shop_for(replace(settings, max_connections_per_caller=1)) as shop:
        token = await shop.token()
        async with connect(shop.http, token), connect(shop.http, token, ack=False) as second:
            code, _ = await second.closed()
        assert code == 4429
        async with connect(shop.http, await shop.token("bob")):
            pass  # another caller is not affected


async def test_a_slow_consumer_is_closed_with_4008(settings: Settings) -> None:
    async with shop_for(replace(settings, subscription_queue_size=2)) as shop:
        product = shop.products[0]
        async with connect(shop.http) as socket:
            await socket.subscribe("1", INVENTORY, {"ids": [gid(product)]})
            await asyncio.sleep(0.1)
            # One message with more changes than the queue holds, all offered at once.
            await shop.app.state.broker.publish_inventory([(product.id, -1)] * 5)
            code, reason = await socket.closed()
    assert code == 4008
    assert "Too slow" in reason
    assert shop.app.state.broker.listener_count == 0


async def test_messages_beyond_the_body_limit_close_the_socket(bare_settings: Settings) -> None:
    limited = replace(bare_settings, max_body_bytes=2000)
    async with socket_client(make_app(limited)) as http, connect(http) as socket:
        await socket.subscribe("1", INVENTORY, {"ids": ["x" * 3000]})
        code, _ = await socket.closed()
    assert code == 1009


async def test_subscriptions_obey_the_query_limits(bare_settings: Settings) -> None:
    async with socket_client(make_app(bare_settings)) as http:
        deep = (
            "subscription { inventoryChanged { product { category { "
            + ("parent { " * 12 + "name" + " }" * 12)
            + " } } } }"
        )
        async with connect(http) as socket:
            await socket.subscribe("1", deep, {})
            assert error_codes(await socket.receive()) == ["QUERY_TOO_COMPLEX"]


# ---------------------------------------------------------------- fan-out


FAN_OUT = """
subscription Stock($ids: [ID!]) {
  inventoryChanged(productIds: $ids) {
    stock delta
    product {
      name category { name parent { name } }
      reviews(first: 3) { edges { node { rating author { name } } } }
    }
  }
}
"""


async def statements_per_event(
    shop: Shop, product: Product, subscribers: int, sql: StatementCounter
) -> int:
    """SQL statements this process runs to deliver one event to `subscribers`."""
    per_socket = 10
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(connect(shop.http))
            for _ in range(subscribers // per_socket)
        ]
        for socket in sockets:
            for index in range(per_socket):
                await socket.subscribe(str(index), FAN_OUT, {"ids": [gid(product)]})
        await asyncio.sleep(0.2)
        sql.reset()
        await shop.app.state.broker.publish_inventory([(product.id, -1)])
        for socket in sockets:
            for _ in range(per_socket):
                event = (await socket.next_payload())["data"]["inventoryChanged"]
                assert len(event["product"]["reviews"]["edges"]) == 3
        return sql.count


async def test_statements_per_event_do_not_grow_with_subscribers(
    settings: Settings, sql: StatementCounter
) -> None:
    async with shop_for(settings) as shop:
        root = await Category.create(name="Root", slug="root")
        child = await Category.create(name="Child", slug="child", parent=root)
        product = await make_product(3, category=child)
        for number in range(4):
            await add_review(product, await factories.make_numbered_user(number), 1 + number)
        few = await statements_per_event(shop, product, 10, sql)
        many = await statements_per_event(shop, product, 60, sql)
        assert few == many
        assert many <= 6  # product, category, parent, reviews, authors (+ nothing per subscriber)


async def test_listeners_are_released_when_clients_leave(settings: Settings) -> None:
    async with shop_for(settings) as shop:
        broker = shop.app.state.broker
        async with connect(shop.http) as socket:
            await socket.subscribe("1", INVENTORY, {})
            await socket.subscribe("2", INVENTORY, {"ids": [gid(shop.products[0])]})
            await asyncio.sleep(0.1)
            assert broker.listener_count == 2
            await socket.ws.send_json({"id": "1", "type": "complete"})
            await asyncio.sleep(0.1)
            assert broker.listener_count == 1
        await asyncio.sleep(0.1)
        assert broker.listener_count == 0


# ---------------------------------------------------------------- many instances


def redis_server(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return process


@contextlib.contextmanager
def servers(
    monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path, redis_url: str, count: int
) -> Iterator[list[str]]:
    """`count` real instances under uvicorn, on one database and one Redis."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_TIMEOUT", "1")
    started: list[subprocess.Popen[bytes]] = []
    try:
        bases = []
        for _ in range(count):
            process, base = start_server(db, tmp_path)
            started.append(process)
            bases.append(base)
        for process, base in zip(started, bases, strict=True):
            wait_healthy(process, base)
        yield bases
    finally:
        for process in started:
            stop_server(process)


async def live_shop(http: httpx.AsyncClient) -> tuple[str, list[Product]]:
    """A customer's token (from the instance's token endpoint) and two products."""
    from tests.oauth import browser_tokens

    web = await make_client(CUSTOMER_SCOPES)
    await make_user("ann@example.com")
    body = await browser_tokens(http, web.client_id, "ann@example.com", scope=CUSTOMER_SCOPES)
    products = [await make_product(1, stock=10), await make_product(2, stock=10)]
    return body["access_token"], products


async def place(http: httpx.AsyncClient, token: str, product: Product) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": PLACE, "variables": {"input": {"items": lines([(product, 1)])}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


async def test_an_event_committed_on_one_instance_reaches_another(
    monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path
) -> None:
    require_service(port_open("127.0.0.1", 6379), "Redis is not reachable on 127.0.0.1:6379")
    with servers(monkeypatch, db, tmp_path, REDIS_URL, 2) as (a, b):
        async with httpx.AsyncClient(base_url=b) as on_b, httpx.AsyncClient() as on_a:
            token, (product, _) = await live_shop(on_b)
            async with connect(on_a, base=a) as socket:
                await socket.subscribe("1", INVENTORY, {"ids": [gid(product)]})
                await asyncio.sleep(0.5)
                await place(on_b, token, product)
                event = (await socket.next_payload())["data"]["inventoryChanged"]
    assert (event["delta"], event["stock"]) == (-1, 9)


async def test_a_redis_outage_keeps_the_service_up_and_events_come_back(
    monkeypatch: pytest.MonkeyPatch, db: str, tmp_path: Path
) -> None:
    require_service(shutil.which("redis-server") is not None, "redis-server is not installed")
    port = free_port()
    redis = redis_server(port)
    try:
        with servers(monkeypatch, db, tmp_path, f"redis://127.0.0.1:{port}/0", 1) as (base,):
            async with httpx.AsyncClient(base_url=base) as http:
                token, (product, other) = await live_shop(http)
                ws_base = base
                async with connect(http, base=ws_base) as socket:
                    await socket.subscribe("1", INVENTORY, {})
                    await asyncio.sleep(0.5)
                    redis.send_signal(signal.SIGKILL)
                    redis.wait()
                    ended = await socket.receive(seconds=15)
                    assert ended["id"] == "1"
                    assert error_codes(ended) == ["SERVICE_UNAVAILABLE"]

                    # Down: reads and orders still work; subscribing again is refused.
                    await place(http, token, product)
                    listing = await http.post(
                        "/graphql", json={"query": "{ products { totalCount } }"}
                    )
                    assert listing.json()["data"]["products"]["totalCount"] == 2
                    await socket.subscribe("2", INVENTORY, {})
                    assert error_codes(await socket.receive()) == ["SERVICE_UNAVAILABLE"]

                    redis = redis_server(port)
                    received = await resubscribe_until_event(socket, http, token, other)
        assert received["product"]["sku"] == other.sku
    finally:
        redis.kill()
        redis.wait()


async def resubscribe_until_event(
    socket: Socket, http: httpx.AsyncClient, token: str, product: Product
) -> dict[str, Any]:
    """Subscribe again (as a client does after an error) until an order's event arrives."""
    deadline = time.monotonic() + 20
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        await socket.subscribe(f"again-{attempt}", INVENTORY, {"ids": [gid(product)]})
        try:
            message = await socket.receive(seconds=0.5)
        except TimeoutError:
            message = None  # subscribed and waiting: there are no events yet
        if message is None:
            await place(http, token, product)
            event: dict[str, Any] = (await socket.next_payload())["data"]["inventoryChanged"]
            return event
        assert error_codes(message) == ["SERVICE_UNAVAILABLE"]
        await asyncio.sleep(0.3)
    pytest.fail("events did not come back within 20 s of Redis restarting")


async def test_sigterm_closes_open_sockets(db: str, tmp_path: Path) -> None:
    process, base = start_server(db, tmp_path)
    try:
        wait_healthy(process, base)
        async with httpx.AsyncClient() as http, connect(http, base=base) as socket:
            await socket.subscribe("1", INVENTORY, {})
            await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            code, _ = await socket.closed()
        assert process.wait(timeout=10) in {0, -signal.SIGTERM}
    finally:
        stop_server(process)
    assert code == 1001, code  # going away (uvicorn alone would say 1012)


def test_serve_says_when_events_will_not_cross_workers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from server import cli

    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    # Only the warning is under test here: no database to check, no keys to read.
    monkeypatch.setattr(cli, "_with_database", lambda *args: 0)
    monkeypatch.setattr(cli, "_signing_keys_problem", lambda settings: None)
    # Nor metrics across workers: that would switch this test process to multiprocess mode.
    monkeypatch.setattr("server.metrics.prepare_multiprocess", lambda: "")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert cli.main(["serve", "--workers", "3"]) == 0
    assert "3 workers without REDIS_URL" in capsys.readouterr().err
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert cli.main(["serve", "--workers", "3"]) == 0
    assert "REDIS_URL" not in capsys.readouterr().err


async def test_publishing_without_redis_is_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from events.broker import PUBLISHED, RedisBroker

    def failed() -> float:
        return PUBLISHED.labels("inventory", "failed")._value.get()

    broker = RedisBroker(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    await broker.start()
    before = failed()
    try:
        with caplog.at_level(logging.ERROR, logger="storefront.events"):
            started = time.monotonic()
            for _ in range(3):
                await broker.publish_inventory([(1, -1)])
            assert time.monotonic() - started < 1  # known down: no wait per publish
        with pytest.raises(EventsUnavailable):
            broker.listen("inventory")
    finally:
        await broker.close()
    assert failed() - before == 3
    assert [r.getMessage() for r in caplog.records].count(
        "events: cannot publish to Redis (not connected); events are lost until it is back"
    ) == 1


async def test_the_allow_list_covers_subscriptions(settings: Settings) -> None:
    registered = "subscription Stock { inventoryChanged { stock delta } }"
    await register_operations(
        [
            ManifestOperation(sha256_hex(registered), registered, "Stock", "subscription"),
            ManifestOperation(sha256_hex(PLACE), PLACE, None, "mutation"),
        ]
    )
    only = replace(settings, persisted_queries="only")
    async with shop_for(only) as shop, connect(shop.http) as socket:
        await socket.subscribe("1", "subscription { inventoryChanged { stock } }", {})
        assert error_codes(await socket.receive()) == ["FORBIDDEN"]
        await socket.subscribe("2", registered, {})
        await asyncio.sleep(0.1)
        await shop.place(await shop.token(), [(shop.products[0], 1)])
        assert (await socket.next_payload())["data"]["inventoryChanged"]["delta"] == -1

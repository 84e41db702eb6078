"""A database that stops answering: every request ends with SERVICE_UNAVAILABLE within
DATABASE_TIMEOUT, nothing is half-written, and the service recovers by itself.

On PostgreSQL the real service (uvicorn in a child process) reaches the database through
a proxy that plays a partition (`tests.partition`). On SQLite the outage is a lock held
by another process.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from models.catalog import Product
from models.orders import Order
from schema.relay import to_global_id
from server.settings import ConfigError, Settings, load_settings
from tests.conftest import error_code, graphql, start_server, stop_server, wait_healthy
from tests.factories import make_product, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client
from tests.partition import PartitionProxy

DATABASE_TIMEOUT = 1.0
# Far above DATABASE_TIMEOUT: a request that hangs fails the test instead of the run.
CLIENT_DEADLINE = 15.0
SCOPES = "profile orders:read orders:write"

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id number } userErrors { field code } }
}
"""


@dataclass
class Outage:
    http: httpx.AsyncClient
    token: str
    product: Product

    async def place(self, key: str, quantity: int = 1) -> tuple[dict[str, Any], float]:
        """The response to a placeOrder, and how long it took."""
        variables = {
            "input": {
                "items": [{"productId": to_global_id("Product", self.product.id), "quantity": 1}],
                "idempotencyKey": key,
            }
        }
        started = time.monotonic()
        body = await graphql(self.http, PLACE, variables, {"Authorization": f"Bearer {self.token}"})
        return body, time.monotonic() - started

    async def stock(self) -> int:
        return (await Product.get(id=self.product.id)).stock


def through(database_url: str, port: int) -> str:
    """The same database URL, reached at 127.0.0.1:`port`."""
    parts = urlsplit(database_url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.fixture
def proxy(db: str) -> Iterator[PartitionProxy]:
    port = urlsplit(db).port or 5432
    with PartitionProxy(port).running() as running:
        yield running


@pytest.fixture
async def outage(db: str, proxy: PartitionProxy, tmp_path: Path) -> AsyncIterator[Outage]:
    client = await make_client(SCOPES)
    await make_user("ann@example.com")
    product = await make_product(1, stock=10)
    process, base = start_server(
        through(db, proxy.port), tmp_path, {"DATABASE_TIMEOUT": str(DATABASE_TIMEOUT)}
    )
    try:
        wait_healthy(process, base)
        async with httpx.AsyncClient(base_url=base, timeout=CLIENT_DEADLINE) as http:
            tokens = await browser_tokens(http, client.client_id, scope=SCOPES)
            yield Outage(http, tokens["access_token"], product)
    finally:
        stop_server(process)


@pytest.mark.dialect("postgres")  # a network partition; SQLite has its own outage below
async def test_a_partition_ends_requests_in_time_and_the_service_recovers(
    outage: Outage, proxy: PartitionProxy
) -> None:
    body, _ = await outage.place("before")
    assert body["data"]["placeOrder"]["order"] is not None, body
    assert await outage.stock() == 9

    proxy.swallow()
    body, took = await outage.place("during")
    assert error_code(body) == "SERVICE_UNAVAILABLE", body
    started = time.monotonic()
    ready = await outage.http.get("/readyz")
    assert ready.status_code == 503
    print(
        f"during a partition: placeOrder SERVICE_UNAVAILABLE after {took:.2f} s, "
        f"/readyz 503 after {time.monotonic() - started:.2f} s"
    )

    proxy.heal()
    assert await outage.stock() == 9
    assert not await Order.filter(idempotency_key="during").exists()
    body, _ = await outage.place("during")
    assert body["data"]["placeOrder"]["order"] is not None, body
    assert await outage.stock() == 8
    assert (await outage.http.get("/readyz")).status_code == 200


@pytest.mark.dialect("postgres")
async def test_an_order_whose_answer_was_lost_takes_stock_once_when_retried(
    outage: Outage, proxy: PartitionProxy
) -> None:
    proxy.lose_answer_to(b"COMMIT")
    body, took = await outage.place("lost")
    assert error_code(body) == "SERVICE_UNAVAILABLE", body
    print(f"placeOrder whose COMMIT answer was lost: SERVICE_UNAVAILABLE after {took:.2f} s")
    # The database committed it: only the answer was lost.
    assert await outage.stock() == 9

    proxy.heal()
    first = await Order.get(idempotency_key="lost")
    body, _ = await outage.place("lost")
    assert body["data"]["placeOrder"]["order"]["number"] == first.number, body
    assert await outage.stock() == 9
    assert await Order.filter(idempotency_key="lost").count() == 1


@pytest.fixture
async def locked_sqlite(db: str, settings: Settings) -> AsyncIterator[Outage]:
    app = make_app(replace(settings, database_timeout=DATABASE_TIMEOUT))
    client = await make_client(SCOPES)
    await make_user("ann@example.com")
    product = await make_product(1, stock=10)
    async with http_client(app) as http:
        tokens = await browser_tokens(http, client.client_id, scope=SCOPES)
        yield Outage(http, tokens["access_token"], product)


@pytest.mark.dialect("sqlite")  # a lock held by another process is SQLite's outage
async def test_a_locked_sqlite_database_is_unavailable_not_an_internal_error(
    db: str, locked_sqlite: Outage
) -> None:
    other = sqlite3.connect(db.removeprefix("sqlite://"), isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        body, _ = await locked_sqlite.place("locked")
        assert error_code(body) == "SERVICE_UNAVAILABLE", body
    finally:
        other.execute("ROLLBACK")
        other.close()
    body, _ = await locked_sqlite.place("locked")
    assert body["data"]["placeOrder"]["order"] is not None, body
    assert await locked_sqlite.stock() == 9


@pytest.mark.parametrize("name", ["DATABASE_TIMEOUT", "HTTP_HEADER_TIMEOUT", "HTTP_BODY_TIMEOUT"])
@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_deadlines_are_positive_seconds(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, env_file=None)
    assert getattr(load_settings({name: "2.5"}, env_file=None), name.lower()) == 2.5

"""Checkout under concurrency, on PostgreSQL, through two instances of the real service.

Two uvicorn processes serve the same database, as two instances behind a load balancer
would. Many `placeOrder` calls at once, split between them, must sell exactly the stock
there is, and one idempotency key must make one order, whichever instance each call
reaches.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.catalog import Product
from models.orders import Order, OrderItem
from schema.relay import to_global_id
from tests.conftest import start_server, stop_server, wait_healthy
from tests.factories import make_product, make_user
from tests.oauth import browser_tokens, make_client

# Only PostgreSQL: the session's `database_url` fixture, on its PostgreSQL side (which
# skips, or fails under STOREFRONT_REQUIRE_SERVICES=1, when PostgreSQL is unreachable).
pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id } userErrors { field code } }
}
"""


# One customer places every order here: their unpaid orders may hold this many units.
UNITS_HELD = 1000


@pytest.fixture
def servers(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Two instances of the service on the test's database, started side by side. Behind
    a load balancer they share one public URL, the issuer of the tokens either accepts."""
    monkeypatch.setenv("MAX_UNITS_HELD_PER_CUSTOMER", str(UNITS_HELD))
    issuer = {"OAUTH_SERVER_ISSUER": "http://127.0.0.1:8000"}
    started = [start_server(db, tmp_path, issuer) for _ in range(2)]
    try:
        for process, base in started:
            wait_healthy(process, base)
        yield [base for _, base in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            stop_server(process)


async def customer_token(base: str) -> str:
    """A token from the authorization-code flow, through the first instance."""
    await make_user("ann@example.com")
    web = await make_client("orders:write")
    async with httpx.AsyncClient(base_url=base) as http:
        tokens = await browser_tokens(http, web.client_id, scope="orders:write")
    token: str = tokens["access_token"]
    return token


async def place_concurrently(
    servers: list[str], token: str, inputs: list[dict[str, Any]]
) -> list[httpx.Response]:
    """POST every placeOrder at once, alternating between the instances."""
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=len(inputs))
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        return await asyncio.gather(
            *(
                http.post(
                    f"{servers[index % len(servers)]}/graphql",
                    json={"query": PLACE, "variables": {"input": input_}},
                    headers=headers,
                )
                for index, input_ in enumerate(inputs)
            )
        )


def payloads(responses: list[httpx.Response]) -> list[dict[str, Any]]:
    """Each response's placeOrder payload; every response must be a 200 without errors."""
    found = []
    for response in responses:
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        found.append(body["data"]["placeOrder"])
    return found


def line(product: Product, quantity: int = 1) -> dict[str, Any]:
    return {"productId": to_global_id("Product", product.id), "quantity": quantity}


async def test_two_hundred_orders_for_fifty_units_sell_fifty(servers: list[str]) -> None:
    product = await make_product(1, stock=50)
    token = await customer_token(servers[0])

    results = payloads(await place_concurrently(servers, token, [{"items": [line(product)]}] * 200))

    placed = [result for result in results if result["order"] is not None]
    refused = [result for result in results if result["order"] is None]
    assert len(placed) == 50
    assert all(result["userErrors"] == [] for result in placed)
    assert len(refused) == 150
    out_of_stock = [{"field": ["input", "items", "0", "quantity"], "code": "OUT_OF_STOCK"}]
    assert all(result["userErrors"] == out_of_stock for result in refused)
    assert len({result["order"]["id"] for result in placed}) == 50
    assert (await Product.get(id=product.id)).stock == 0
    assert await Order.all().count() == 50
    assert sum(item.quantity for item in await OrderItem.filter(product_id=product.id)) == 50


async def test_one_idempotency_key_at_once_makes_one_order(servers: list[str]) -> None:
    product = await make_product(1, stock=100)
    token = await customer_token(servers[0])

    same = {"items": [line(product, 2)], "idempotencyKey": "checkout-42"}
    results = payloads(await place_concurrently(servers, token, [same] * 20))

    assert all(result["userErrors"] == [] for result in results)
    assert len({result["order"]["id"] for result in results}) == 1
    assert await Order.filter(idempotency_key="checkout-42").count() == 1
    assert await Order.all().count() == 1
    assert (await Product.get(id=product.id)).stock == 98


async def test_orders_naming_products_in_either_order_do_not_deadlock(
    servers: list[str],
) -> None:
    first = await make_product(1, stock=1000)
    second = await make_product(2, stock=1000)
    token = await customer_token(servers[0])

    inputs = [
        {"items": [line(first), line(second)] if index % 2 else [line(second), line(first)]}
        for index in range(100)
    ]
    results = payloads(await place_concurrently(servers, token, inputs))

    assert Counter(result["order"] is not None for result in results) == {True: 100}
    stocks = await Product.filter(id__in=[first.id, second.id]).values_list("stock", flat=True)
    assert sorted(stocks) == [900, 900]


async def test_one_customer_on_two_instances_holds_no_more_than_the_limit(
    servers: list[str],
) -> None:
    product = await make_product(1, stock=5000)
    token = await customer_token(servers[0])

    results = payloads(
        await place_concurrently(servers, token, [{"items": [line(product, 90)]}] * 30)
    )

    placed = [result for result in results if result["order"] is not None]
    refused = [result for result in results if result["order"] is None]
    assert len(placed) == UNITS_HELD // 90
    limit = [{"field": ["input", "items"], "code": "LIMIT_EXCEEDED"}]
    assert all(result["userErrors"] == limit for result in refused)
    assert (await Product.get(id=product.id)).stock == 5000 - 90 * len(placed)
    assert await Order.all().count() == len(placed)

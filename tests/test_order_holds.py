"""Unpaid orders hold stock for a while, one customer holds a bounded amount, and a
document runs a bounded number of mutations (issue 7, item 1: one customer drained the
catalog with 36 aliased `placeOrder`s of unpaid orders that held stock forever).

Over HTTP with real tokens, on SQLite and PostgreSQL. "The clock moves on" is played by
moving an order's hold end into the past in the database.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tortoise import timezone

from events import INVENTORY, ORDERS, Broker, InventoryChange, OrderStatusChange
from models.catalog import Product
from models.orders import CancelReason, Order, OrderItem, OrderStatus
from resolvers.orders import Expiry, expire_orders
from server.app import create_app
from server.settings import ConfigError, Settings, load_settings
from server.sweeper import order_sweeper
from tests.conftest import error_code
from tests.test_orders import (
    ALL_SCOPES,
    CANCEL,
    UPDATE_STATUS,
    Shop,
    lines,
    open_shop,
    stocks,
)

# Expiry tells a broker what changed; these tests read it only where they say so.
BROKER = Broker(queue_size=10_000)
STATE = """
query State($id: ID!) { order(id: $id) { status cancelReason holdExpiresAt } }
"""
PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order { id number status holdExpiresAt cancelReason }
    userErrors { field message code }
  }
}
"""


async def place(shop: Shop, who: str, items: list[tuple[Product, int]]) -> dict[str, Any]:
    body = await shop.call(PLACE, {"input": {"items": lines(items)}}, await shop.token(who))
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["placeOrder"]
    return payload


async def state(shop: Shop, global_id: str) -> dict[str, Any]:
    body = await shop.call(STATE, {"id": global_id}, await shop.token("staff", ALL_SCOPES))
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["order"]
    return found


async def hold_ends_in_the_past(*global_ids: str) -> None:
    """The clock moves on: these orders' holds ended a minute ago."""
    public_ids = [public_id(global_id) for global_id in global_ids]
    past = timezone.now() - timedelta(minutes=1)
    await Order.filter(public_id__in=public_ids).update(hold_expires_at=past)


def public_id(global_id: str) -> str:
    return base64.b64decode(global_id).decode().partition(":")[2]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture
async def shop(settings: Settings) -> AsyncIterator[Shop]:
    async with open_shop(settings) as opened:
        yield opened


@pytest.fixture
async def stocked(shop: Shop) -> Shop:
    """The shop with plenty of each product: what limits orders is the hold rules."""
    await Product.all().update(stock=1000)
    for product in shop.products:
        product.stock = 1000
    return shop


# ---------------------------------------------------------------- holds


async def test_a_pending_order_holds_its_stock_until_its_hold_ends(shop: Shop) -> None:
    before = timezone.now()
    placed = await place(shop, "ann", [(shop.products[0], 2)])
    order = placed["order"]

    assert order["status"] == "PENDING"
    assert order["cancelReason"] is None
    hold = Settings().order_hold_seconds
    ends = parse_time(order["holdExpiresAt"])
    assert before + timedelta(seconds=hold) <= ends <= timezone.now() + timedelta(seconds=hold)

    paid = await shop.call(
        UPDATE_STATUS, {"id": order["id"], "status": "PAID"}, await shop.token("staff", ALL_SCOPES)
    )
    assert paid["data"]["updateOrderStatus"]["userErrors"] == []
    assert await state(shop, order["id"]) == {
        "status": "PAID",
        "cancelReason": None,
        "holdExpiresAt": None,
    }


async def test_an_ended_hold_returns_the_stock_exactly_once_under_concurrent_sweeps(
    stocked: Shop,
) -> None:
    first, second, third = stocked.products
    expiring = [
        (await place(stocked, "ann", [(first, 3), (second, 2)]))["order"]["id"],
        (await place(stocked, "bob", [(first, 4)]))["order"]["id"],
        *[(await place(stocked, "bob", [(third, 1)]))["order"]["id"] for _ in range(10)],
    ]
    still_held = (await place(stocked, "ann", [(second, 5)]))["order"]["id"]
    await hold_ends_in_the_past(*expiring)
    assert await stocks(first, second, third) == [993, 993, 990]

    # Several instances sweeping at the same moment.
    broker = Broker(queue_size=100)
    statuses = broker.listen(ORDERS, [public_id(id_) for id_ in [*expiring, still_held]])
    inventory = broker.listen(INVENTORY)
    sweeps: list[Expiry] = await asyncio.gather(*(expire_orders(broker) for _ in range(4)))

    assert await stocks(first, second, third) == [1000, 995, 1000]
    expired_ids = [order.public_id for sweep in sweeps for order in sweep.orders]
    assert sorted(expired_ids) == sorted(public_id(id_) for id_ in expiring)
    restocked: dict[int, int] = {}
    for sweep in sweeps:
        for product_id, units in sweep.restocked.items():
            restocked[product_id] = restocked.get(product_id, 0) + units
    assert restocked == {first.id: 7, second.id: 2, third.id: 10}
    # Subscribers hear of each expired order once, and of the stock that came back.
    heard = [statuses._events.popleft() for _ in range(len(statuses._events))]
    assert all(isinstance(event, OrderStatusChange) for event in heard)
    assert sorted(event.order_id for event in heard) == sorted(public_id(id_) for id_ in expiring)
    returned: dict[int, int] = {}
    while inventory._events:
        change = inventory._events.popleft()
        assert isinstance(change, InventoryChange)
        returned[change.product_id] = returned.get(change.product_id, 0) + change.delta
    assert returned == restocked
    for global_id in expiring:
        assert await state(stocked, global_id) == {
            "status": "CANCELLED",
            "cancelReason": "EXPIRED",
            "holdExpiresAt": None,
        }
    assert (await state(stocked, still_held))["status"] == "PENDING"

    again = await expire_orders(BROKER)
    assert again == Expiry(orders=[], restocked={})
    assert await stocks(first, second, third) == [1000, 995, 1000]


async def test_a_paid_order_never_expires(shop: Shop) -> None:
    first = shop.products[0]
    order = (await place(shop, "ann", [(first, 2)]))["order"]
    staff = await shop.token("staff", ALL_SCOPES)
    await shop.call(UPDATE_STATUS, {"id": order["id"], "status": "PAID"}, staff)
    # Even with a hold end left in the past on the row.
    await Order.all().update(hold_expires_at=timezone.now() - timedelta(days=1))

    assert (await expire_orders(BROKER)).orders == []
    assert (await state(shop, order["id"]))["status"] == "PAID"
    assert await stocks(first) == [8]


async def test_an_expired_order_can_be_neither_paid_nor_cancelled(shop: Shop) -> None:
    order = (await place(shop, "ann", [(shop.products[0], 1)]))["order"]
    await hold_ends_in_the_past(order["id"])
    await expire_orders(BROKER)

    paid = await shop.call(
        UPDATE_STATUS, {"id": order["id"], "status": "PAID"}, await shop.token("staff", ALL_SCOPES)
    )
    cancelled = await shop.call(CANCEL, {"id": order["id"]}, await shop.token("ann"))
    for payload in (paid["data"]["updateOrderStatus"], cancelled["data"]["cancelOrder"]):
        assert [error["code"] for error in payload["userErrors"]] == ["INVALID_STATUS_TRANSITION"]
    assert await stocks(shop.products[0]) == [10]


@pytest.mark.parametrize(
    ("who", "how", "reason"),
    [
        ("ann", "cancelOrder", "CUSTOMER"),
        ("staff", "cancelOrder", "STAFF"),
        ("staff", "updateOrderStatus", "STAFF"),
    ],
)
async def test_cancel_reason_says_who_cancelled(
    shop: Shop, who: str, how: str, reason: str
) -> None:
    order = (await place(shop, "ann", [(shop.products[0], 1)]))["order"]
    token = await shop.token(who, ALL_SCOPES)
    if how == "cancelOrder":
        body = await shop.call(CANCEL, {"id": order["id"]}, token)
    else:
        body = await shop.call(UPDATE_STATUS, {"id": order["id"], "status": "CANCELLED"}, token)
    assert body["data"][how]["userErrors"] == [], body
    assert await state(shop, order["id"]) == {
        "status": "CANCELLED",
        "cancelReason": reason,
        "holdExpiresAt": None,
    }
    assert (await Order.get()).cancel_reason == CancelReason(reason)


def run_cli(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_storefront_expire_orders_sweeps_once(shop: Shop, db: str, tmp_path: Path) -> None:
    first, second, _ = shop.products
    due = [
        (await place(shop, "ann", [(first, 2), (second, 1)]))["order"]["id"],
        (await place(shop, "bob", [(first, 1)]))["order"]["id"],
    ]
    held = (await place(shop, "bob", [(second, 1)]))["order"]["id"]
    await hold_ends_in_the_past(*due)

    result = await asyncio.to_thread(run_cli, db, tmp_path, "expire-orders")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"expired": 2, "units_restocked": 4}
    assert await stocks(first, second) == [10, 4]
    assert [(await state(shop, id_))["cancelReason"] for id_ in due] == ["EXPIRED", "EXPIRED"]
    assert (await state(shop, held))["status"] == "PENDING"

    again = await asyncio.to_thread(run_cli, db, tmp_path, "expire-orders")
    assert json.loads(again.stdout) == {"expired": 0, "units_restocked": 0}
    assert await stocks(first, second) == [10, 4]


# ---------------------------------------------------------------- the sweeper


async def test_the_app_sweeps_by_itself_and_stops_on_shutdown(
    shop: Shop, settings: Settings
) -> None:
    order = (await place(shop, "ann", [(shop.products[0], 2)]))["order"]
    await hold_ends_in_the_past(order["id"])
    # As the app under uvicorn does; the tests' in-process client runs no lifespan.
    swept = create_app(replace(settings, order_sweep_seconds=0.05), manage_database=False)
    async with swept.router.lifespan_context(swept):
        for _ in range(100):
            if (await Order.get()).status is OrderStatus.CANCELLED:
                break
            await asyncio.sleep(0.05)
    assert (await Order.get()).cancel_reason is CancelReason.EXPIRED
    assert await stocks(shop.products[0]) == [10]
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "order-sweeper"]


async def test_the_sweeper_survives_a_failed_sweep() -> None:
    calls: list[str] = []

    async def flaky() -> Expiry:
        calls.append("sweep")
        if len(calls) == 1:
            raise ConnectionError("the database is away")
        return Expiry(orders=[], restocked={})

    async with order_sweeper(0.01, flaky):
        for _ in range(200):
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.01)
    assert len(calls) >= 3
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "order-sweeper"]


# ---------------------------------------------------------------- units held per customer


async def test_beyond_the_units_a_customer_may_hold_nothing_is_written(stocked: Shop) -> None:
    first, second, _ = stocked.products
    held = await place(stocked, "ann", [(first, 60)])
    await place(stocked, "ann", [(second, 20)])
    orders_before = await Order.all().count()

    refused = await place(stocked, "ann", [(first, 10), (second, 11)])

    assert refused["order"] is None
    [error] = refused["userErrors"]
    assert error["field"] == ["input", "items"]
    assert error["code"] == "LIMIT_EXCEEDED"
    first_end = parse_time(held["order"]["holdExpiresAt"]).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert error["message"] == (
        "Unpaid orders may hold at most 100 units at a time; this one has 21 and you already "
        f"hold 80 units in unpaid orders, until {first_end} for the first of them. "
        "Pay for or cancel an order, or wait"
    )
    assert await Order.all().count() == orders_before
    assert await OrderItem.all().count() == 2
    assert await stocks(first, second) == [940, 980]

    # Up to the limit exactly; another customer is not concerned.
    assert (await place(stocked, "ann", [(first, 20)]))["userErrors"] == []
    assert (await place(stocked, "bob", [(first, 100)]))["userErrors"] == []
    assert (await place(stocked, "ann", [(first, 1)]))["userErrors"][0]["code"] == "LIMIT_EXCEEDED"

    # A paid, a cancelled or an expired order holds nothing.
    staff = await stocked.token("staff", ALL_SCOPES)
    await stocked.call(UPDATE_STATUS, {"id": held["order"]["id"], "status": "PAID"}, staff)
    assert (await place(stocked, "ann", [(first, 60)]))["userErrors"] == []


async def test_one_order_beyond_the_limit_is_refused(stocked: Shop) -> None:
    refused = await place(stocked, "ann", [(stocked.products[0], 101)])
    assert refused["userErrors"] == [
        {
            "field": ["input", "items"],
            "message": "Unpaid orders may hold at most 100 units at a time; this one has 101",
            "code": "LIMIT_EXCEEDED",
        }
    ]
    assert await Order.all().count() == 0


async def test_an_order_past_its_hold_counts_no_more(stocked: Shop) -> None:
    order = await place(stocked, "ann", [(stocked.products[0], 100)])
    await hold_ends_in_the_past(order["order"]["id"])
    assert (await place(stocked, "ann", [(stocked.products[1], 100)]))["userErrors"] == []


async def test_concurrent_orders_of_one_customer_cannot_pass_the_limit(stocked: Shop) -> None:
    first = stocked.products[0]
    token = await stocked.token("ann")
    variables = {"input": {"items": lines([(first, 30)])}}

    bodies = await asyncio.gather(*(stocked.call(PLACE, variables, token) for _ in range(8)))

    codes = [
        [error["code"] for error in body["data"]["placeOrder"]["userErrors"]] for body in bodies
    ]
    assert sorted(codes) == [[]] * 3 + [["LIMIT_EXCEEDED"]] * 5
    assert await Order.all().count() == 3
    assert await stocks(first) == [910]


# ---------------------------------------------------------------- mutations per document


def aliased_place_orders(count: int) -> str:
    fields = " ".join(f"o{n}: placeOrder(input: $input) {{ order {{ id }} }}" for n in range(count))
    return f"mutation Drain($input: PlaceOrderInput!) {{ {fields} }}"


async def post(shop: Shop, query: str, variables: dict[str, Any], token: str) -> httpx.Response:
    return await shop.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={
            "Authorization": f"Bearer {token}",
            "accept": "application/graphql-response+json",
        },
    )


async def test_thirty_six_aliased_place_orders_are_refused_before_anything_runs(
    stocked: Shop,
) -> None:
    """The attack of issue 7: 36 aliases of 50 lines each."""
    products = [stocked.products[0]] + [
        await Product.create(
            sku=f"BULK-{n}",
            name=f"Bulk {n}",
            slug=f"bulk-{n}",
            price_minor=100,
            currency="USD",
            stock=1000,
        )
        for n in range(49)
    ]
    variables = {"input": {"items": lines([(product, 1) for product in products])}}

    response = await post(stocked, aliased_place_orders(36), variables, await stocked.token())

    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "mutations": 36,
        "maximumMutations": 5,
    }
    assert await Order.all().count() == 0
    assert set(await Product.all().values_list("stock", flat=True)) == {1000}


FRAGMENTS = """
mutation Spread($input: PlaceOrderInput!) {
  ...Three
  ... on Mutation { d: placeOrder(input: $input) { order { id } } }
  ... { e: placeOrder(input: $input) { order { id } } %s }
  ...Three
}
fragment Three on Mutation {
  a: placeOrder(input: $input) { order { id } }
  b: placeOrder(input: $input) { order { id } }
  c: placeOrder(input: $input) { order { id } }
}
"""


@pytest.mark.parametrize(
    ("extra", "refused"),
    [("", False), ("f: placeOrder(input: $input) { order { id } }", True)],
    ids=["five", "six"],
)
async def test_fragments_and_inline_fragments_count_too(
    stocked: Shop, extra: str, refused: bool
) -> None:
    variables = {"input": {"items": lines([(stocked.products[0], 1)])}}
    response = await post(stocked, FRAGMENTS % extra, variables, await stocked.token())
    body = response.json()
    if refused:
        assert response.status_code == 400
        assert error_code(body) == "QUERY_TOO_COMPLEX"
        assert body["errors"][0]["extensions"]["mutations"] == 6
        assert await Order.all().count() == 0
    else:
        assert response.status_code == 200, body
        assert len(body["data"]) == 5
        assert await Order.all().count() == 5


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "name",
    [
        "ORDER_HOLD_SECONDS",
        "MAX_UNITS_HELD_PER_CUSTOMER",
        "MAX_MUTATIONS_PER_REQUEST",
        "ORDER_SWEEP_SECONDS",
    ],
)
def test_a_bad_setting_names_its_variable(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: "0"}, env_file=None)


def test_settings_are_read() -> None:
    settings = load_settings(
        {
            "ORDER_HOLD_SECONDS": "600",
            "MAX_UNITS_HELD_PER_CUSTOMER": "7",
            "MAX_MUTATIONS_PER_REQUEST": "2",
            "ORDER_SWEEP_SECONDS": "0.5",
        },
        env_file=None,
    )
    assert (
        settings.order_hold_seconds,
        settings.max_units_held_per_customer,
        settings.max_mutations_per_request,
        settings.order_sweep_seconds,
    ) == (600, 7, 2, 0.5)

"""Orders over HTTP with real tokens from the real token endpoint: checkout, stock,
idempotency, cancellation, status changes, who may read and change which order, and
SQL statement counts. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tortoise import timezone
from tortoise.expressions import F

from auth.config import LEEWAY_SECONDS
from auth.resource import ResourceServer
from auth.tokens import sign_access_token
from models.accounts import User
from models.catalog import Product
from models.orders import Order, OrderItem, OrderStatus
from models.reviews import Review
from resolvers.orders import new_public_id, order_number
from schema.relay import to_global_id
from server.settings import Settings
from tests.conftest import StatementCounter, error_code, graphql
from tests.factories import make_product, make_user
from tests.oauth import browser_tokens, client_credentials, http_client, make_app, make_client

ALL_SCOPES = "profile orders:read orders:write orders:manage"
CUSTOMER_SCOPES = "profile orders:read orders:write"

PLACE = """
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order {
      id number status total { amount currency } customer { name }
      items { quantity unitPrice { amount currency } lineTotal { amount } product { sku stock } }
    }
    userErrors { field message code }
  }
}
"""

CANCEL = """
mutation Cancel($id: ID!) {
  cancelOrder(input: {id: $id}) { order { id status } userErrors { field message code } }
}
"""

UPDATE_STATUS = """
mutation Update($id: ID!, $status: OrderStatus!) {
  updateOrderStatus(input: {id: $id, status: $status}) {
    order { id status }
    userErrors { field message code }
  }
}
"""

ORDER = """
query One($id: ID!) {
  order(id: $id) { number status items { unitPrice { amount } product { price { amount } } } }
}
"""

ORDERS = """
query Mine($status: OrderStatus) {
  orders(first: 50, status: $status) { totalCount edges { node { number } } }
}
"""

NODE = "query Node($id: ID!) { node(id: $id) { id ... on Order { number } } }"
NODES = "query Nodes($ids: [ID!]!) { nodes(ids: $ids) { id ... on Order { number } } }"
USER_ORDERS = """
query UserOrders($id: ID!) {
  node(id: $id) { ... on User { name orders(first: 10) { totalCount edges { node { number } } } } }
}
"""
ENTITY_ORDERS = """
query EntityOrders($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on User { orders(first: 10) { totalCount edges { node { number } } } }
  }
}
"""


# ---------------------------------------------------------------- the shop


@dataclass
class Shop:
    app: Starlette
    http: httpx.AsyncClient
    web_client_id: str
    users: dict[str, User]
    products: list[Product]
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    async def token(self, who: str = "ann", scope: str = CUSTOMER_SCOPES) -> str:
        """An access token from the authorization-code flow, as a browser app gets one."""
        key = (who, scope)
        if key not in self.tokens:
            email = self.users[who].email
            body = await browser_tokens(self.http, self.web_client_id, email, scope=scope)
            self.tokens[key] = body["access_token"]
        return self.tokens[key]

    async def expired_token(self, who: str = "ann") -> str:
        resource: ResourceServer = self.app.state.auth.resource
        signed = sign_access_token(
            await resource.keys.signing_key(),
            issuer=resource.config.issuer,
            audience=resource.config.audience,
            subject=str(self.users[who].id),
            client_id=self.web_client_id,
            scope=ALL_SCOPES,
            lifetime=-(LEEWAY_SECONDS + 600),
        )
        return signed.token

    async def call(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await graphql(self.http, query, variables, headers)

    async def place(
        self, token: str, items: list[tuple[Product, int]], key: str | None = None
    ) -> dict[str, Any]:
        """placeOrder's payload (asserting there is no GraphQL error)."""
        variables = {"input": {"items": lines(items), "idempotencyKey": key}}
        body = await self.call(PLACE, variables, token)
        assert "errors" not in body, body
        placed: dict[str, Any] = body["data"]["placeOrder"]
        return placed


def lines(items: list[tuple[Product, int]]) -> list[dict[str, Any]]:
    return [
        {"productId": to_global_id("Product", product.id), "quantity": quantity}
        for product, quantity in items
    ]


def order_id(order: Order) -> str:
    return to_global_id("Order", order.public_id)


async def stocks(*products: Product) -> list[int]:
    found = {p.id: p.stock for p in await Product.filter(id__in=[p.id for p in products])}
    return [found[product.id] for product in products]


@asynccontextmanager
async def open_shop(settings: Settings) -> AsyncIterator[Shop]:
    """The app over HTTP, a web client, Ann, Bob, staff and three products."""
    app = make_app(replace(settings, currency="USD"))
    async with http_client(app) as http:
        web = await make_client(ALL_SCOPES)
        users = {
            "ann": await make_user("ann@example.com"),
            "bob": await make_user("bob@example.com"),
            "staff": await make_user("staff@example.com", staff=True),
        }
        products = [
            await make_product(1, price_minor=1999, stock=10),
            await make_product(2, price_minor=250, stock=5),
            await make_product(3, price_minor=10000, stock=1),
        ]
        yield Shop(app, http, web.client_id, users, products)


@pytest.fixture
async def shop(settings: Settings) -> AsyncIterator[Shop]:
    async with open_shop(settings) as opened:
        yield opened


async def make_order(
    customer: User, product: Product, quantity: int = 1, status: OrderStatus = OrderStatus.PENDING
) -> Order:
    """An order written straight to the database, stock taken as checkout takes it."""
    public_id = new_public_id()
    pending = status is OrderStatus.PENDING
    order = await Order.create(
        public_id=public_id,
        number=order_number(public_id),
        customer=customer,
        status=status,
        hold_expires_at=timezone.now() + timedelta(hours=1) if pending else None,
        total_minor=product.price_minor * quantity,
        currency="USD",
    )
    await OrderItem.create(
        order=order, product=product, quantity=quantity, unit_price_minor=product.price_minor
    )
    await Product.filter(id=product.id).update(stock=F("stock") - quantity)
    return order


# ---------------------------------------------------------------- checkout


async def test_placing_an_order_takes_stock_and_captures_prices(shop: Shop) -> None:
    first, second, _ = shop.products
    placed = await shop.place(await shop.token(), [(first, 2), (second, 3)])

    assert placed["userErrors"] == []
    order = placed["order"]
    assert re.fullmatch(r"SF-[0-9A-HJKMNP-TV-Z]{10}", order["number"])
    assert order["status"] == "PENDING"
    assert order["total"] == {"amount": "47.48", "currency": "USD"}
    assert order["customer"] == {"name": "Ann"}
    assert order["items"] == [
        {
            "quantity": 2,
            "unitPrice": {"amount": "19.99", "currency": "USD"},
            "lineTotal": {"amount": "39.98"},
            "product": {"sku": first.sku, "stock": 8},
        },
        {
            "quantity": 3,
            "unitPrice": {"amount": "2.50", "currency": "USD"},
            "lineTotal": {"amount": "7.50"},
            "product": {"sku": second.sku, "stock": 2},
        },
    ]
    assert await stocks(first, second) == [8, 2]
    row = await Order.get()
    assert (row.customer_id, row.total_minor, row.currency, row.status) == (
        shop.users["ann"].id,
        4748,
        "USD",
        OrderStatus.PENDING,
    )
    items = (
        await OrderItem.filter(order=row)
        .order_by("id")
        .values_list("product_id", "quantity", "unit_price_minor")
    )
    assert items == [(first.id, 2, 1999), (second.id, 3, 250)]

    # A later price change leaves the order's prices as they were.
    await Product.filter(id=first.id).update(price_minor=5000)
    body = await shop.call(ORDER, {"id": order["id"]}, await shop.token())
    assert body["data"]["order"]["items"][0] == {
        "unitPrice": {"amount": "19.99"},
        "product": {"price": {"amount": "50.00"}},
    }


async def test_each_mutation_of_a_document_sees_the_ones_before(shop: Shop) -> None:
    """Mutations run in order; each payload shows the stock its own order left."""
    first = shop.products[0]
    product_id = to_global_id("Product", first.id)
    body = await shop.call(
        """mutation Twice($id: ID!) {
          one: placeOrder(input: {items: [{productId: $id, quantity: 2}]}) {
            order { items { product { stock } } } }
          two: placeOrder(input: {items: [{productId: $id, quantity: 3}]}) {
            order { items { product { stock } } } }
        }""",
        {"id": product_id},
        await shop.token(),
    )
    assert "errors" not in body, body
    stock_after = [
        body["data"][key]["order"]["items"][0]["product"]["stock"] for key in ("one", "two")
    ]
    assert stock_after == [8, 5]
    assert await stocks(first) == [5]


async def test_order_numbers_differ(shop: Shop) -> None:
    token = await shop.token()
    numbers = {
        (await shop.place(token, [(shop.products[0], 1)]))["order"]["number"] for _ in range(5)
    }
    assert len(numbers) == 5


async def test_out_of_stock_changes_nothing(shop: Shop) -> None:
    first, second, third = shop.products
    placed = await shop.place(await shop.token(), [(first, 2), (second, 6), (third, 2)])

    assert placed["order"] is None
    assert [(error["field"], error["code"]) for error in placed["userErrors"]] == [
        (["input", "items", "1", "quantity"], "OUT_OF_STOCK"),
        (["input", "items", "2", "quantity"], "OUT_OF_STOCK"),
    ]
    assert second.sku in placed["userErrors"][0]["message"]
    assert await stocks(first, second, third) == [10, 5, 1]
    assert await Order.all().count() == 0
    assert await OrderItem.all().count() == 0


async def test_the_last_unit_sells_once(shop: Shop) -> None:
    third = shop.products[2]
    token = await shop.token()
    assert (await shop.place(token, [(third, 1)]))["order"] is not None
    again = await shop.place(token, [(third, 1)])
    assert again["order"] is None
    assert again["userErrors"][0]["code"] == "OUT_OF_STOCK"
    assert await stocks(third) == [0]


async def test_unknown_product(shop: Shop) -> None:
    first = shop.products[0]
    variables = {
        "input": {
            "items": [
                {"productId": to_global_id("Product", first.id), "quantity": 1},
                {"productId": to_global_id("Product", 99999), "quantity": 1},
            ]
        }
    }
    body = await shop.call(PLACE, variables, await shop.token())
    assert body["data"]["placeOrder"]["userErrors"] == [
        {
            "field": ["input", "items", "1", "productId"],
            "message": "No product has this ID",
            "code": "NOT_FOUND",
        }
    ]
    assert await stocks(first) == [10]
    assert await Order.all().count() == 0


async def test_a_product_priced_in_another_currency_is_unavailable(shop: Shop) -> None:
    first = shop.products[0]
    await Product.filter(id=first.id).update(currency="EUR")
    placed = await shop.place(await shop.token(), [(first, 1)])
    assert [(error["field"], error["code"]) for error in placed["userErrors"]] == [
        (["input", "items", "0", "productId"], "PRODUCT_UNAVAILABLE")
    ]
    assert await stocks(first) == [10]


@pytest.mark.parametrize(
    ("product_id", "argument"),
    [
        (to_global_id("Category", 1), "input.items[0].productId"),
        ("not an id", "Invalid ID"),
    ],
    ids=["another-type", "malformed"],
)
async def test_product_ids_must_be_product_ids(shop: Shop, product_id: str, argument: str) -> None:
    variables = {"input": {"items": [{"productId": product_id, "quantity": 1}]}}
    body = await shop.call(PLACE, variables, await shop.token())
    assert error_code(body) == "BAD_USER_INPUT"
    assert argument in body["errors"][0]["message"]
    assert await Order.all().count() == 0


BAD_INPUTS: list[tuple[str, Callable[[list[Product]], dict[str, Any]], list[Any], str]] = [
    ("no-items", lambda p: {"items": []}, ["input", "items"], "REQUIRED"),
    (
        "too-many-items",
        lambda p: {
            "items": [
                {"productId": to_global_id("Product", n), "quantity": 1} for n in range(1000, 1051)
            ]
        },
        ["input", "items"],
        "OUT_OF_RANGE",
    ),
    (
        "zero",
        lambda p: {"items": lines([(p[0], 0)])},
        ["input", "items", "0", "quantity"],
        "OUT_OF_RANGE",
    ),
    (
        "negative",
        lambda p: {"items": lines([(p[0], -3)])},
        ["input", "items", "0", "quantity"],
        "OUT_OF_RANGE",
    ),
    (
        "too-many",
        lambda p: {"items": lines([(p[0], 1001)])},
        ["input", "items", "0", "quantity"],
        "OUT_OF_RANGE",
    ),
    (
        "duplicate-product",
        lambda p: {"items": lines([(p[0], 1), (p[1], 1), (p[0], 2)])},
        ["input", "items", "2", "productId"],
        "DUPLICATE_PRODUCT",
    ),
    (
        "blank-key",
        lambda p: {"items": lines([(p[0], 1)]), "idempotencyKey": ""},
        ["input", "idempotencyKey"],
        "REQUIRED",
    ),
    (
        "long-key",
        lambda p: {"items": lines([(p[0], 1)]), "idempotencyKey": "k" * 129},
        ["input", "idempotencyKey"],
        "TOO_LONG",
    ),
]


@pytest.mark.parametrize(
    ("make_input", "path", "code"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
async def test_bad_input_is_a_user_error_and_changes_nothing(
    shop: Shop,
    make_input: Callable[[list[Product]], dict[str, Any]],
    path: list[str],
    code: str,
) -> None:
    body = await shop.call(PLACE, {"input": make_input(shop.products)}, await shop.token())
    payload = body["data"]["placeOrder"]
    assert payload["order"] is None
    assert [(error["field"], error["code"]) for error in payload["userErrors"]] == [(path, code)]
    assert await stocks(*shop.products) == [10, 5, 1]
    assert await Order.all().count() == 0


async def test_the_longest_key_is_accepted(shop: Shop) -> None:
    placed = await shop.place(await shop.token(), [(shop.products[0], 1)], key="k" * 128)
    assert placed["userErrors"] == []


async def test_the_same_idempotency_key_returns_the_first_order(shop: Shop) -> None:
    first, second, _ = shop.products
    token = await shop.token()
    once = await shop.place(token, [(first, 2)], key="checkout-1")
    twice = await shop.place(token, [(first, 2)], key="checkout-1")
    # Even a different basket: the key names the first order.
    thrice = await shop.place(token, [(second, 1)], key="checkout-1")

    assert once["order"]["id"] == twice["order"]["id"] == thrice["order"]["id"]
    assert once["order"]["number"] == thrice["order"]["number"]
    assert await Order.all().count() == 1
    assert await stocks(first, second) == [8, 5]

    another_key = await shop.place(token, [(first, 1)], key="checkout-2")
    bobs = await shop.place(await shop.token("bob"), [(first, 1)], key="checkout-1")
    assert len({once["order"]["id"], another_key["order"]["id"], bobs["order"]["id"]}) == 3
    assert await stocks(first) == [6]


# ---------------------------------------------------------------- cancellation


async def test_cancelling_returns_stock_once(shop: Shop) -> None:
    first, second, _ = shop.products
    token = await shop.token()
    placed = await shop.place(token, [(first, 4), (second, 5)])
    assert await stocks(first, second) == [6, 0]

    body = await shop.call(CANCEL, {"id": placed["order"]["id"]}, token)
    assert body["data"]["cancelOrder"] == {
        "order": {"id": placed["order"]["id"], "status": "CANCELLED"},
        "userErrors": [],
    }
    assert await stocks(first, second) == [10, 5]
    assert (await Order.get()).status is OrderStatus.CANCELLED

    again = await shop.call(CANCEL, {"id": placed["order"]["id"]}, token)
    assert again["data"]["cancelOrder"]["order"] is None
    assert again["data"]["cancelOrder"]["userErrors"][0]["code"] == "INVALID_STATUS_TRANSITION"
    assert await stocks(first, second) == [10, 5]


async def test_a_paid_order_can_be_cancelled(shop: Shop) -> None:
    first = shop.products[0]
    order = await make_order(shop.users["ann"], first, 3, OrderStatus.PAID)
    body = await shop.call(CANCEL, {"id": order_id(order)}, await shop.token())
    assert body["data"]["cancelOrder"]["order"]["status"] == "CANCELLED"
    assert await stocks(first) == [10]


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.DELIVERED])
async def test_a_shipped_order_cannot_be_cancelled(shop: Shop, status: OrderStatus) -> None:
    first = shop.products[0]
    order = await make_order(shop.users["ann"], first, 3, status)
    body = await shop.call(CANCEL, {"id": order_id(order)}, await shop.token())
    payload = body["data"]["cancelOrder"]
    assert payload["order"] is None
    assert payload["userErrors"] == [
        {
            "field": ["input", "id"],
            "message": f"Order {order.number} is {status.value} and cannot become CANCELLED: "
            "only PENDING or PAID orders can be cancelled",
            "code": "INVALID_STATUS_TRANSITION",
        }
    ]
    assert await stocks(first) == [7]
    assert (await Order.get()).status is status


async def test_cancelling_an_unknown_order(shop: Shop) -> None:
    body = await shop.call(CANCEL, {"id": to_global_id("Order", "0" * 32)}, await shop.token())
    assert body["data"]["cancelOrder"]["userErrors"] == [
        {"field": ["input", "id"], "message": "No order has this ID", "code": "NOT_FOUND"}
    ]


async def test_items_of_a_deleted_product_stay_on_the_order(shop: Shop) -> None:
    first, second, _ = shop.products
    placed = await shop.place(await shop.token(), [(first, 1), (second, 1)])
    await Product.filter(id=second.id).delete()

    body = await shop.call(ORDER, {"id": placed["order"]["id"]}, await shop.token())
    assert [item["product"] for item in body["data"]["order"]["items"]] == [
        {"price": {"amount": "19.99"}},
        None,
    ]
    cancelled = await shop.call(CANCEL, {"id": placed["order"]["id"]}, await shop.token())
    assert cancelled["data"]["cancelOrder"]["order"]["status"] == "CANCELLED"
    assert await stocks(first) == [10]


# ---------------------------------------------------------------- status changes

P, A, S, D, C = "PENDING", "PAID", "SHIPPED", "DELIVERED", "CANCELLED"


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (P, A, True),
        (A, S, True),
        (S, D, True),
        (P, S, True),  # skipping ahead is allowed
        (P, D, True),
        (P, C, True),
        (A, C, True),
        (A, P, False),
        (S, A, False),
        (D, S, False),
        (A, A, False),
        (P, P, False),
        (S, C, False),
        (D, C, False),
        (C, P, False),
        (C, A, False),
        (C, D, False),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_status_moves_forward_only(
    shop: Shop, start: str, target: str, allowed: bool
) -> None:
    first = shop.products[0]
    order = await make_order(shop.users["ann"], first, 2, OrderStatus(start))
    if start == C:
        await Product.filter(id=first.id).update(stock=10)
    body = await shop.call(
        UPDATE_STATUS,
        {"id": order_id(order), "status": target},
        await shop.token("staff", ALL_SCOPES),
    )
    payload = body["data"]["updateOrderStatus"]
    now = (await Order.get()).status.value
    if allowed:
        assert payload == {"order": {"id": order_id(order), "status": target}, "userErrors": []}
        assert now == target
    else:
        assert payload["order"] is None
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", "status"], "INVALID_STATUS_TRANSITION")
        ]
        assert now == start
    # Stock comes back exactly when the order becomes cancelled.
    assert await stocks(first) == [10 if (target == C and allowed) or start == C else 8]


async def test_updated_at_moves_with_the_status(shop: Shop) -> None:
    order = await make_order(shop.users["ann"], shop.products[0])
    body = await shop.call(
        UPDATE_STATUS,
        {"id": order_id(order), "status": "PAID"},
        await shop.token("staff", ALL_SCOPES),
    )
    assert body["data"]["updateOrderStatus"]["order"]["status"] == "PAID"
    assert (await Order.get()).updated_at > order.updated_at


# ---------------------------------------------------------------- who may do what


@dataclass
class World:
    shop: Shop
    anns: Order
    bobs: Order


@pytest.fixture
async def world(shop: Shop) -> World:
    ann, bob = shop.users["ann"], shop.users["bob"]
    return World(
        shop, await make_order(ann, shop.products[0]), await make_order(bob, shop.products[1])
    )


async def staff_client_token(shop: Shop) -> str:
    client = await make_client(ALL_SCOPES, public=False)
    response = await client_credentials(shop.http, client)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


CALLERS: dict[str, Callable[[Shop], Awaitable[str | None]]] = {
    "anonymous": lambda shop: _none(),
    "malformed": lambda shop: _value("not.a-jwt"),
    "expired": lambda shop: shop.expired_token("ann"),
    "no-scope": lambda shop: shop.token("ann", "profile"),
    "someone-else": lambda shop: shop.token("bob"),
    "owner": lambda shop: shop.token("ann"),
    "customer-asking-for-manage": lambda shop: shop.token("ann", ALL_SCOPES),
    "staff-without-manage": lambda shop: shop.token("staff", CUSTOMER_SCOPES),
    "staff": lambda shop: shop.token("staff", ALL_SCOPES),
    "client": staff_client_token,
}


async def _none() -> None:
    return None


async def _value(text: str) -> str:
    return text


def _place_request(world: World) -> tuple[str, dict[str, Any]]:
    return PLACE, {"input": {"items": lines([(world.shop.products[2], 1)])}}


def _cancel_request(world: World) -> tuple[str, dict[str, Any]]:
    return CANCEL, {"id": order_id(world.anns)}


def _update_request(world: World) -> tuple[str, dict[str, Any]]:
    return UPDATE_STATUS, {"id": order_id(world.anns), "status": "PAID"}


def _order_request(world: World) -> tuple[str, dict[str, Any]]:
    return ORDER, {"id": order_id(world.anns)}


def _node_request(world: World) -> tuple[str, dict[str, Any]]:
    return NODE, {"id": order_id(world.anns)}


def _nodes_request(world: World) -> tuple[str, dict[str, Any]]:
    return NODES, {"ids": [order_id(world.anns)]}


def _orders_request(world: World) -> tuple[str, dict[str, Any]]:
    return ORDERS, {}


def _user_orders_request(world: World) -> tuple[str, dict[str, Any]]:
    return USER_ORDERS, {"id": to_global_id("User", world.anns.customer_id)}


def _entity_orders_request(world: World) -> tuple[str, dict[str, Any]]:
    user = {"__typename": "User", "id": to_global_id("User", world.anns.customer_id)}
    return ENTITY_ORDERS, {"representations": [user]}


def _placed(data: dict[str, Any], world: World) -> bool:
    return data["placeOrder"]["order"] is not None


def _cancelled(data: dict[str, Any], world: World) -> bool:
    return data["cancelOrder"]["order"]["status"] == "CANCELLED"


def _paid(data: dict[str, Any], world: World) -> bool:
    return data["updateOrderStatus"]["order"]["status"] == "PAID"


def _read_order(data: dict[str, Any], world: World) -> bool:
    return data["order"]["number"] == world.anns.number


def _read_node(data: dict[str, Any], world: World) -> bool:
    return data["node"]["number"] == world.anns.number


def _read_nodes(data: dict[str, Any], world: World) -> bool:
    return data["nodes"] == [{"id": order_id(world.anns), "number": world.anns.number}]


def _read_user_orders(data: dict[str, Any], world: World) -> bool:
    orders = data["node"]["orders"]
    return orders["totalCount"] == 1 and orders["edges"][0]["node"]["number"] == world.anns.number


def _read_entity_orders(data: dict[str, Any], world: World) -> bool:
    orders = data["_entities"][0]["orders"]
    return orders["totalCount"] == 1 and orders["edges"][0]["node"]["number"] == world.anns.number


def _hidden(data: dict[str, Any], world: World) -> bool:
    """What a missing order answers: nothing there."""
    return data in ({"order": None}, {"node": None}, {"nodes": [None]})


def _not_found(data: dict[str, Any], world: World) -> bool:
    return data["cancelOrder"] == {
        "order": None,
        "userErrors": [
            {"field": ["input", "id"], "message": "No order has this ID", "code": "NOT_FOUND"}
        ],
    }


def _hidden_user(data: dict[str, Any], world: World) -> bool:
    """Someone else's user, not a review author: exactly as a missing user."""
    return next(iter(data.values())) in (None, [None])


def _listed(*who: str) -> Callable[[dict[str, Any], World], bool]:
    def check(data: dict[str, Any], world: World) -> bool:
        expected = {"anns": world.anns.number, "bobs": world.bobs.number}
        numbers = [edge["node"]["number"] for edge in data["orders"]["edges"]]
        return numbers == [expected[name] for name in who]

    return check


REQUESTS: dict[str, Callable[[World], tuple[str, dict[str, Any]]]] = {
    "placeOrder": _place_request,
    "cancelOrder": _cancel_request,
    "updateOrderStatus": _update_request,
    "order": _order_request,
    "node": _node_request,
    "nodes": _nodes_request,
    "orders": _orders_request,
    "User.orders": _user_orders_request,
    "_entities-User.orders": _entity_orders_request,
}

Check = Callable[[dict[str, Any], World], bool]
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
# Missing, malformed and expired tokens, and tokens without the scope, are refused on
# placeOrder, cancelOrder, updateOrderStatus, order and orders by test_access_matrix.py
# (with every other kind of bad token): here only on the ways to an order it leaves out.
_REFUSED_TOKENS = {
    "anonymous": UNAUTHENTICATED,
    "malformed": UNAUTHENTICATED,
    "expired": UNAUTHENTICATED,
}
MATRIX: dict[str, dict[str, str | Check]] = {
    "placeOrder": {
        "client": FORBIDDEN,
        "owner": _placed,
    },
    "cancelOrder": {
        "someone-else": _not_found,
        "owner": _cancelled,
        "staff": _cancelled,
        "client": _cancelled,
    },
    "updateOrderStatus": {
        "owner": FORBIDDEN,
        "customer-asking-for-manage": FORBIDDEN,
        "staff-without-manage": FORBIDDEN,
        "staff": _paid,
        "client": _paid,
    },
    **{
        name: {
            **(_REFUSED_TOKENS | {"no-scope": FORBIDDEN} if name != "order" else {}),
            "someone-else": hidden,
            "customer-asking-for-manage": check,
            "staff-without-manage": hidden,
            "owner": check,
            "staff": check,
        }
        for name, check, hidden in (
            ("order", _read_order, _hidden),
            ("node", _read_node, _hidden),
            ("nodes", _read_nodes, _hidden),
        )
    },
    **{
        name: {
            **_REFUSED_TOKENS,
            "anonymous": _hidden_user,
            "no-scope": FORBIDDEN,
            "someone-else": _hidden_user,
            "customer-asking-for-manage": check,
            "staff-without-manage": _hidden_user,
            "owner": check,
            "staff": check,
        }
        for name, check in (
            ("User.orders", _read_user_orders),
            ("_entities-User.orders", _read_entity_orders),
        )
    },
    "orders": {
        "owner": _listed("anns"),
        "someone-else": _listed("bobs"),
        "staff-without-manage": _listed(),
        "staff": _listed("bobs", "anns"),
        "client": _listed("bobs", "anns"),
    },
}


@pytest.mark.parametrize(
    ("request_name", "caller", "expected"),
    [
        (request_name, caller, expected)
        for request_name, cases in MATRIX.items()
        for caller, expected in cases.items()
    ],
    ids=[f"{request_name}-{caller}" for request_name, cases in MATRIX.items() for caller in cases],
)
async def test_who_may_do_what(
    world: World, request_name: str, caller: str, expected: str | Check
) -> None:
    query, variables = REQUESTS[request_name](world)
    body = await world.shop.call(query, variables, await CALLERS[caller](world.shop))
    if isinstance(expected, str):
        assert error_code(body) == expected, body
        assert await stocks(*world.shop.products) == [9, 4, 1]
        assert [o.status for o in await Order.all().order_by("id")] == [OrderStatus.PENDING] * 2
    else:
        assert "errors" not in body, body
        assert expected(body["data"], world), body


async def test_a_refused_user_orders_field_leaves_the_rest_of_the_query(world: World) -> None:
    # Bob wrote a review, so his `User` is public; his orders are not.
    await Review.create(product=world.shop.products[0], author_id=world.bobs.customer_id, rating=4)
    query = """
    query Both($ann: ID!, $bob: ID!) {
      nodes(ids: [$ann, $bob]) { ... on User { name orders { totalCount } } }
    }
    """
    variables = {
        "ann": to_global_id("User", world.anns.customer_id),
        "bob": to_global_id("User", world.bobs.customer_id),
    }
    body = await world.shop.call(query, variables, await world.shop.token("ann"))
    assert body["data"]["nodes"] == [{"name": "Ann", "orders": {"totalCount": 1}}, None]
    assert [(error["path"], error["extensions"]["code"]) for error in body["errors"]] == [
        (["nodes", 1, "orders"], FORBIDDEN)
    ]


async def test_orders_filter_by_status(world: World) -> None:
    await Order.filter(id=world.bobs.id).update(status=OrderStatus.SHIPPED)
    token = await world.shop.token("staff", ALL_SCOPES)
    body = await world.shop.call(ORDERS, {"status": "SHIPPED"}, token)
    assert body["data"]["orders"] == {
        "totalCount": 1,
        "edges": [{"node": {"number": world.bobs.number}}],
    }


async def test_orders_page_newest_first(shop: Shop) -> None:
    ann = shop.users["ann"]
    numbers = [(await make_order(ann, shop.products[0])).number for _ in range(5)]
    token = await shop.token()
    query = """
    query Page($after: String) {
      orders(first: 2, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { number } }
      }
    }
    """
    seen: list[str] = []
    after = None
    while True:
        page = (await shop.call(query, {"after": after}, token))["data"]["orders"]
        seen += [edge["node"]["number"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == numbers[::-1]


# ---------------------------------------------------------------- SQL statements

STAFF_LISTING = """
query Listing($first: Int!) {
  orders(first: $first) {
    edges { node {
      number total { amount }
      items { quantity product { sku category { name } } }
      customer { name orders(first: 3) { totalCount edges { node { number } } } }
    } }
  }
}
"""


def _token_check(statement: str) -> bool:
    """A statement of `auth`: the revocation list, keys, the account's state."""
    return "oauth_" in statement or "tokens_valid_after" in statement


async def test_statements_do_not_grow_with_rows(shop: Shop, sql: StatementCounter) -> None:
    customers = [shop.users["ann"], shop.users["bob"], shop.users["staff"]]
    await Product.all().update(stock=100)
    for number in range(24):
        await make_order(customers[number % 3], shop.products[number % 2])
    token = await shop.token("staff", ALL_SCOPES)

    counts = []
    for first in (2, 20):
        sql.reset()
        body = await shop.call(STAFF_LISTING, {"first": first}, token)
        assert "errors" not in body, body
        assert len(body["data"]["orders"]["edges"]) == first
        # The token's checks are the auth module's business (and cached there).
        counts.append(sum(not _token_check(statement) for statement in sql.statements))
    # orders, items, products, customers, the customers' order windows and counts
    # (categories: none of these products has one)
    assert counts == [6, 6]


# ---------------------------------------------------------------- no oracle


async def test_someone_elses_order_answers_exactly_as_a_missing_one(world: World) -> None:
    """Every door, for a customer holding every scope a customer may have: the answer for
    Bob's order is the answer for an ID no order has, word for word, and nothing changes."""
    shop = world.shop
    missing = to_global_id("Order", new_public_id())
    bobs = order_id(world.bobs)
    token = await shop.token("ann", ALL_SCOPES)
    doors: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        (ORDER, lambda id_: {"id": id_}),
        (NODE, lambda id_: {"id": id_}),
        (NODES, lambda id_: {"ids": [id_]}),
        (CANCEL, lambda id_: {"id": id_}),
        (UPDATE_STATUS, lambda id_: {"id": id_, "status": "CANCELLED"}),
    ]
    for query, variables in doors:
        answers = []
        for id_ in (bobs, missing):
            response = await shop.http.post(
                "/graphql",
                json={"query": query, "variables": variables(id_)},
                headers={"Authorization": f"Bearer {token}"},
            )
            answers.append((response.status_code, response.json()))
        assert answers[0] == answers[1], query
    assert await stocks(*shop.products) == [9, 4, 1]
    assert [o.status for o in await Order.all()] == [OrderStatus.PENDING] * 2


async def test_order_ids_and_numbers_are_not_sequential(shop: Shop) -> None:
    token = await shop.token()
    placed = [(await shop.place(token, [(shop.products[0], 1)]))["order"] for _ in range(3)]
    rows = await Order.all().order_by("id")

    keys = [base64.b64decode(order["id"]).decode() for order in placed]
    assert keys == [f"Order:{row.public_id}" for row in rows]
    assert all(re.fullmatch(r"Order:[0-9a-f]{32}", key) for key in keys)
    assert not any(key.endswith(f":{row.id}") for key, row in zip(keys, rows, strict=True))
    assert len({row.public_id for row in rows}) == 3
    assert [order["number"] for order in placed] == [order_number(row.public_id) for row in rows]
    # The old kind of ID, a database id, finds nothing: it is not an order's ID at all.
    old = await shop.call(NODE, {"id": to_global_id("Order", rows[0].id)}, token)
    assert error_code(old) == "BAD_USER_INPUT"

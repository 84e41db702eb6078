"""Input the database cannot take is the client's mistake, said as such before any SQL.

IDs past the id columns' range, NUL characters in any text, decimals that overflow and
names or reviews made of control characters, bidirectional overrides or nothing visible:
BAD_USER_INPUT (or a user error in a mutation's payload) with a message saying what to
fix, on SQLite and PostgreSQL alike, never SERVICE_UNAVAILABLE or an internal error. And
one hostile request writes a bounded log.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import httpx
import pytest

from models.catalog import Product
from models.orders import Order
from models.reviews import Review
from schema import relay
from schema.relay import to_global_id
from tests.conftest import error_codes, graphql
from tests.factories import make_product
from tests.test_catalog_mutations import ADD_REVIEW, CREATE, Tokens, bearer, call, result

# `tokens` (staff and customer tokens from the real token endpoint) comes from there.
from tests.test_catalog_mutations import tokens as tokens
from tests.test_orders import PLACE


def raw_id(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OUT_OF_RANGE_IDS = [
    raw_id("Product:2147483648"),  # one past PostgreSQL's integer
    raw_id(f"Product:{2**63}"),  # past a 64-bit integer
    raw_id("Product:0"),
    raw_id("Product:-1"),
    raw_id("Product:1e3"),
    raw_id("Product:\u0661"),  # ARABIC-INDIC DIGIT ONE: int() would take it
]


def bad_input(body: dict[str, Any], *words: str) -> None:
    assert error_codes(body), body
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body
    message = body["errors"][0]["message"]
    for word in words:
        assert word in message, body


@pytest.mark.parametrize("global_id", OUT_OF_RANGE_IDS)
async def test_ids_out_of_range_are_bad_user_input_everywhere(
    client: httpx.AsyncClient, tokens: Tokens, global_id: str
) -> None:
    await make_product(1)
    for query, variables in [
        ("query($id: ID!) { node(id: $id) { id } }", {"id": global_id}),
        ("query($id: ID!) { product(id: $id) { id } }", {"id": global_id}),
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": [global_id]}),
        (
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id } } }",
            {"r": [{"__typename": "Product", "id": global_id}]},
        ),
    ]:
        bad_input(await graphql(client, query, variables), "Invalid ID")
    placed = await graphql(
        client,
        PLACE,
        {"input": {"items": [{"productId": global_id, "quantity": 1}]}},
        bearer(tokens.customer),
    )
    bad_input(placed, "Invalid ID")
    assert await Order.all().count() == 0


async def test_a_statement_the_database_refuses_is_an_internal_error_not_an_outage(
    client: httpx.AsyncClient, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Let an ID past PostgreSQL's integer slip through, as a forgotten check would.
    monkeypatch.setattr(relay, "MAX_DATABASE_ID", 2**62)
    query = "query($id: ID!) { product(id: $id) { id } }"
    body = await graphql(client, query, {"id": raw_id("Product:2147483648")})
    if db.startswith("postgres"):
        assert error_codes(body) == ["INTERNAL_SERVER_ERROR"], body
        assert body["errors"][0]["message"] == "Internal server error"
    else:
        assert body == {"data": {"product": None}}


async def test_the_largest_id_is_simply_not_found(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        "query($id: ID!) { product(id: $id) { id } }",
        {"id": to_global_id("Product", 2**31 - 1)},
    )
    assert body == {"data": {"product": None}}


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (
            "query($s: String!) { products(filter: {search: $s}) { totalCount } }",
            {"s": NUL},
        ),
        ("query($s: String!) { product(sku: $s) { id } }", {"s": NUL}),
        ("query($s: String!) { product(slug: $s) { id } }", {"s": NUL}),
        ("query($s: String!) { category(slug: $s) { id } }", {"s": NUL}),
        ('{ product(sku: "a\\u0000b") { id } }', {}),
        ('{ product(sku: "a\x00b") { id } }', {}),  # graphql-core parses a raw NUL too
    ],
)
async def test_nul_characters_in_queries_are_bad_user_input(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> None:
    await make_product(1)
    bad_input(await graphql(client, query, variables), "NUL")


async def test_nul_characters_in_mutations_are_bad_user_input_and_write_nothing(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    product = await make_product(1)
    for field in ("sku", "name", "slug", "description"):
        given = {"sku": "MUG-1", "name": "Mug", "price": "1", "stock": 1, field: NUL}
        bad_input(await call(client, CREATE, tokens.staff, **given), "NUL", field)
    review = {"productId": to_global_id("Product", product.id), "rating": 5, "body": NUL}
    bad_input(await call(client, ADD_REVIEW, tokens.customer, **review), "NUL")
    items = [{"productId": to_global_id("Product", product.id), "quantity": 1}]
    body = await graphql(
        client,
        PLACE,
        {"input": {"items": items, "idempotencyKey": NUL}},
        bearer(tokens.customer),
    )
    bad_input(body, "NUL", "idempotencyKey")
    assert await Product.all().count() == 1
    assert await Review.all().count() == 0
    assert await Order.all().count() == 0


@pytest.mark.parametrize("amount", ["1e999999", "-1e999999", "Infinity", "NaN", "1e41", "sNaN"])
async def test_decimals_that_cannot_be_prices_are_bad_user_input(
    client: httpx.AsyncClient, tokens: Tokens, amount: str
) -> None:
    query = "query($p: Decimal!) { products(filter: {minPrice: $p}) { totalCount } }"
    bad_input(await graphql(client, query, {"p": amount}), "Decimal")
    given = {"sku": "MUG-1", "name": "Mug", "price": amount, "stock": 1}
    bad_input(await call(client, CREATE, tokens.staff, **given), "Decimal")
    assert await Product.all().count() == 0


async def test_a_large_but_finite_price_filter_is_bad_user_input(client: httpx.AsyncClient) -> None:
    query = "query($p: Decimal!) { products(filter: {maxPrice: $p}) { totalCount } }"
    bad_input(await graphql(client, query, {"p": "1e30"}), "maxPrice")


BAD_TEXT = {
    "a control character": "Mug\x07",
    "an escape sequence": "Mug\x1b[31m",
    "a right-to-left override": "Mug\u202egpj.exe",
    "an isolate": "Mug\u2066",
    "only spaces": "   ",
    "only zero-width characters": "\u200b\u200d\ufeff",
    "a line break in a name": "Mug\nCup",
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
async def test_names_and_skus_refuse_invisible_and_control_text(
    client: httpx.AsyncClient, tokens: Tokens, text: str
) -> None:
    for field in ("name", "sku"):
        given = {"sku": "MUG-1", "name": "Mug", "price": "1", "stock": 1, field: text}
        payload = result(await call(client, CREATE, tokens.staff, **given), "createProduct")
        assert payload["product"] is None
        assert [error["field"] for error in payload["userErrors"]] == [["input", field]], payload
        assert payload["userErrors"][0]["code"] in {"INVALID", "REQUIRED"}
    assert await Product.all().count() == 0


@pytest.mark.parametrize(
    "text",
    [BAD_TEXT[name] for name in ("a control character", "a right-to-left override", "only spaces")],
)
async def test_review_bodies_refuse_control_and_blank_text(
    client: httpx.AsyncClient, tokens: Tokens, text: str
) -> None:
    product = await make_product(1)
    review = {"productId": to_global_id("Product", product.id), "rating": 5, "body": text}
    payload = result(await call(client, ADD_REVIEW, tokens.customer, **review), "addReview")
    assert payload["review"] is None
    assert payload["userErrors"][0]["field"] == ["input", "body"], payload
    assert await Review.all().count() == 0


async def test_review_bodies_keep_their_line_breaks(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    product = await make_product(1)
    body = "Sturdy.\n\n\tWould buy again."
    review = {"productId": to_global_id("Product", product.id), "rating": 5, "body": body}
    payload = result(await call(client, ADD_REVIEW, tokens.customer, **review), "addReview")
    assert payload["review"]["body"] == body


ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id } } }"


async def test_a_hostile_entities_request_writes_a_bounded_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    kinds: list[Any] = [
        {"__typename": "Product"},
        {"__typename": "Nope", "id": "x"},
        {"__typename": "Product", "id": 12},
        {"__typename": "Product", "id": "garbage"},
        {"__typename": "Product", "id": raw_id("Product:2147483648")},
        {"__typename": "Product", "id": "x", "extra": "y"},
        "not an object",
    ]
    representations = [kinds[index % len(kinds)] for index in range(4990)]
    caplog.set_level(logging.DEBUG, logger="storefront")
    body = await graphql(client, ENTITIES, {"r": representations})

    assert len(body["errors"]) == 4990
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}
    lines = [record for record in caplog.records if record.name.startswith("storefront")]
    assert len(lines) <= 10, [record.getMessage() for record in lines]
    assert not [record for record in lines if record.levelno >= logging.WARNING]
    assert not [record for record in lines if record.exc_info]


async def test_many_faults_of_one_cause_log_one_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loaders import Loaders

    products = [await make_product(number) for number in range(1, 4)]

    def broken(self: Loaders) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Loaders, "product_by_id", property(broken))
    representations = [
        {"__typename": "Product", "id": to_global_id("Product", product.id)} for product in products
    ]
    caplog.set_level(logging.DEBUG, logger="storefront")
    body = await graphql(client, ENTITIES, {"r": representations})

    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"] * 3, body
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert errors[0].exc_info is not None

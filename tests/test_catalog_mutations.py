"""Writing the catalog and reviews, and reading private account data, with real tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models.catalog import Category, Product
from models.reviews import Review
from tests.conftest import error_codes, graphql
from tests.factories import make_numbered_user, make_product, make_user
from tests.oauth import browser_tokens, make_client

ALL_SCOPES = "profile orders:read orders:write reviews:write catalog:write orders:manage"

CREATE = """
mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) {
    product { id sku name slug description price { amount currency } stock category { slug } }
    userErrors { field message code }
  }
}
"""
UPDATE = """
mutation Update($input: UpdateProductInput!) {
  updateProduct(input: $input) {
    product { sku price { amount } stock }
    userErrors { field code }
  }
}
"""
DELETE = """
mutation Delete($input: DeleteProductInput!) {
  deleteProduct(input: $input) { product { sku } deletedProductId userErrors { field code } }
}
"""
ADD_REVIEW = """
mutation Review($input: AddReviewInput!) {
  addReview(input: $input) {
    review { rating body author { name } product { reviewCount averageRating } }
    userErrors { field code }
  }
}
"""


@dataclass
class Tokens:
    staff: str
    customer: str
    customer_without_scopes: str


@pytest.fixture
async def tokens(client: httpx.AsyncClient) -> Tokens:
    await make_user("staff@example.com", staff=True)
    await make_user("ann@example.com")
    web = await make_client(ALL_SCOPES)

    async def token(email: str, scope: str) -> str:
        response = await browser_tokens(client, web.client_id, email, scope=scope)
        access: str = response["access_token"]
        return access

    return Tokens(
        staff=await token("staff@example.com", ALL_SCOPES),
        customer=await token("ann@example.com", ALL_SCOPES),
        customer_without_scopes=await token("ann@example.com", "orders:read"),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(
    client: httpx.AsyncClient, query: str, token: str | None, **input_: Any
) -> dict[str, Any]:
    headers = bearer(token) if token else {}
    return await graphql(client, query, {"input": input_}, headers=headers)


def result(body: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"][field]
    return data


async def test_staff_create_a_product(client: httpx.AsyncClient, tokens: Tokens) -> None:
    category = await Category.create(name="Kitchen", slug="kitchen")
    category_id = (await graphql(client, '{ category(slug: "kitchen") { id } }'))["data"]
    body = await call(
        client,
        CREATE,
        tokens.staff,
        sku="MUG-1",
        name="Enamel Mug",
        price="12.50",
        stock=7,
        categoryId=category_id["category"]["id"],
    )
    created = result(body, "createProduct")
    assert created["userErrors"] == []
    assert created["product"]["slug"] == "enamel-mug"
    assert created["product"]["price"] == {"amount": "12.50", "currency": "USD"}
    assert created["product"]["category"] == {"slug": "kitchen"}
    row = await Product.get(sku="MUG-1")
    assert (row.price_minor, row.stock, row.category_id) == (1250, 7, category.id)
    again = result(
        await call(
            client, CREATE, tokens.staff, sku="MUG-2", name="Enamel Mug", price="1", stock=0
        ),
        "createProduct",
    )
    assert again["product"]["slug"] == "enamel-mug-2"


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"name": "  "}, ["input", "name"], "REQUIRED"),
        ({"name": "x" * 201}, ["input", "name"], "TOO_LONG"),
        ({"sku": "has space"}, ["input", "sku"], "INVALID"),
        ({"stock": -1}, ["input", "stock"], "OUT_OF_RANGE"),
        ({"price": "1.005"}, ["input", "price"], "INVALID"),
        ({"price": "-2"}, ["input", "price"], "INVALID"),
        ({"slug": "Not A Slug"}, ["input", "slug"], "INVALID"),
        ({"currency": "euro"}, ["input", "currency"], "INVALID"),
        ({"sku": "TAKEN"}, ["input", "sku"], "DUPLICATE_SKU"),
        ({"slug": "taken"}, ["input", "slug"], "DUPLICATE_SLUG"),
        ({"categoryId": "Q2F0ZWdvcnk6OTk5"}, ["input", "categoryId"], "NOT_FOUND"),
    ],
)
async def test_invalid_products_are_user_errors_and_write_nothing(
    client: httpx.AsyncClient,
    tokens: Tokens,
    fields: dict[str, Any],
    path: list[str],
    code: str,
) -> None:
    await Product.create(
        sku="TAKEN", name="Taken", slug="taken", price_minor=1, currency="USD", stock=1
    )
    body = await call(
        client,
        CREATE,
        tokens.staff,
        **{"sku": "NEW-1", "name": "New", "price": "1", "stock": 1} | fields,
    )
    created = result(body, "createProduct")
    assert created["product"] is None
    assert [(e["field"], e["code"]) for e in created["userErrors"]] == [(path, code)]
    assert await Product.all().count() == 1


async def test_wrongly_typed_input_is_bad_user_input(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = await call(client, CREATE, tokens.staff, sku="A", name="A", price="1", stock="many")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    body = await call(client, CREATE, tokens.staff, sku="A", name="A", price="1")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert await Product.all().count() == 0


async def test_update_and_delete(client: httpx.AsyncClient, tokens: Tokens) -> None:
    product = await make_product(1)
    customer = await make_numbered_user(7)
    await Review.create(product=product, author=customer, rating=4)
    product_id = (await graphql(client, '{ product(sku: "SKU-0001") { id } }'))["data"]
    gid = product_id["product"]["id"]
    updated = result(
        await call(client, UPDATE, tokens.staff, id=gid, price="3.99", stock=0), "updateProduct"
    )
    assert updated == {
        "product": {"sku": "SKU-0001", "price": {"amount": "3.99"}, "stock": 0},
        "userErrors": [],
    }
    assert (await Product.get(id=product.id)).updated_at > product.updated_at
    missing = result(
        await call(client, UPDATE, tokens.staff, id="UHJvZHVjdDo5OTk=", stock=1), "updateProduct"
    )
    assert missing["userErrors"] == [{"field": ["input", "id"], "code": "NOT_FOUND"}]
    deleted = result(await call(client, DELETE, tokens.staff, id=gid), "deleteProduct")
    assert deleted["product"] == {"sku": "SKU-0001"}
    assert deleted["deletedProductId"] == gid
    assert not await Product.exists(id=product.id)
    assert not await Review.exists(product_id=product.id)


@pytest.mark.parametrize("mutation", [CREATE, UPDATE, DELETE])
async def test_catalog_writes_need_staff_with_catalog_scope(
    client: httpx.AsyncClient, tokens: Tokens, mutation: str
) -> None:
    product = await make_product(1)
    gid = (await graphql(client, '{ product(sku: "SKU-0001") { id } }'))["data"]["product"]["id"]
    fields = {"sku": "X-1", "name": "X", "price": "1", "stock": 1}
    if mutation is not CREATE:
        fields = {"id": gid}
    assert error_codes(await call(client, mutation, None, **fields)) == ["UNAUTHENTICATED"]
    assert error_codes(await call(client, mutation, "not.a.token", **fields)) == ["UNAUTHENTICATED"]
    forged = tokens.staff[:-4] + ("AAAA" if not tokens.staff.endswith("AAAA") else "BBBB")
    assert error_codes(await call(client, mutation, forged, **fields)) == ["UNAUTHENTICATED"]
    # A customer's token never carries catalog:write, whatever was asked for.
    assert error_codes(await call(client, mutation, tokens.customer, **fields)) == ["FORBIDDEN"]
    assert await Product.all().count() == 1
    assert (await Product.get(id=product.id)).sku == "SKU-0001"


async def test_add_review(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await make_product(1)
    gid = (await graphql(client, '{ product(sku: "SKU-0001") { id } }'))["data"]["product"]["id"]
    added = result(
        await call(client, ADD_REVIEW, tokens.customer, productId=gid, rating=4, body="Good"),
        "addReview",
    )
    assert added == {
        "review": {
            "rating": 4,
            "body": "Good",
            "author": {"name": "Ann"},
            "product": {"reviewCount": 1, "averageRating": 4.0},
        },
        "userErrors": [],
    }
    await call(client, ADD_REVIEW, tokens.staff, productId=gid, rating=1)
    product = await Product.get(sku="SKU-0001")
    assert (product.review_count, product.rating_total, product.rating_average) == (2, 5, 2.5)
    twice = result(
        await call(client, ADD_REVIEW, tokens.customer, productId=gid, rating=5), "addReview"
    )
    assert twice["userErrors"] == [{"field": ["input", "productId"], "code": "ALREADY_REVIEWED"}]
    for rating in (0, 6):
        bad = result(
            await call(client, ADD_REVIEW, tokens.staff, productId=gid, rating=rating), "addReview"
        )
        assert bad["userErrors"] == [{"field": ["input", "rating"], "code": "INVALID_RATING"}]
    assert await Review.all().count() == 2
    assert (await Product.get(sku="SKU-0001")).review_count == 2


async def test_add_review_permissions(client: httpx.AsyncClient, tokens: Tokens) -> None:
    await make_product(1)
    gid = (await graphql(client, '{ product(sku: "SKU-0001") { id } }'))["data"]["product"]["id"]
    assert error_codes(await call(client, ADD_REVIEW, None, productId=gid, rating=3)) == [
        "UNAUTHENTICATED"
    ]
    assert error_codes(
        await call(client, ADD_REVIEW, tokens.customer_without_scopes, productId=gid, rating=3)
    ) == ["FORBIDDEN"]
    missing = result(
        await call(client, ADD_REVIEW, tokens.customer, productId="UHJvZHVjdDo5OTk=", rating=3),
        "addReview",
    )
    assert missing["userErrors"] == [{"field": ["input", "productId"], "code": "NOT_FOUND"}]
    assert await Review.all().count() == 0


async def test_private_account_data(client: httpx.AsyncClient, tokens: Tokens) -> None:
    me = await graphql(client, "{ me { name email } }", headers=bearer(tokens.customer))
    assert me == {"data": {"me": {"name": "Ann", "email": "ann@example.com"}}}
    assert error_codes(await graphql(client, "{ me { name } }")) == ["UNAUTHENTICATED"]
    assert error_codes(
        await graphql(client, "{ me { name } }", headers=bearer(tokens.customer_without_scopes))
    ) == ["FORBIDDEN"]
    staff_id = (await graphql(client, "{ me { id } }", headers=bearer(tokens.staff)))["data"]
    query = "query U($id: ID!) { node(id: $id) { ... on User { name email } } }"
    others = await graphql(
        client, query, {"id": staff_id["me"]["id"]}, headers=bearer(tokens.customer)
    )
    # Another user who wrote no review: exactly as a missing user (tests/test_user_privacy.py).
    assert others == {"data": {"node": None}}
    as_staff = await graphql(
        client,
        "query U($id: ID!) { node(id: $id) { ... on User { email } } }",
        {
            "id": (await graphql(client, "{ me { id } }", headers=bearer(tokens.customer)))["data"][
                "me"
            ]["id"]
        },
        headers=bearer(tokens.staff),
    )
    assert as_staff == {"data": {"node": {"email": "ann@example.com"}}}

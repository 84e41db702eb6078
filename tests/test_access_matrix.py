"""Every mutation and private field, through HTTP, against every kind of bad token.

Refused tokens (absent, malformed, forged, `alg: none`, expired, for another audience or
issuer, revoked) are UNAUTHENTICATED; a valid token without the scope, or for someone
else's object, is FORBIDDEN; nothing is written either way. A valid token works.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc import jwt
from starlette.applications import Starlette

from models.catalog import Product
from models.orders import Order
from models.reviews import Review
from schema.relay import to_global_id
from server.settings import Settings
from tests.conftest import error_codes, graphql
from tests.factories import add_review, make_product, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client

SCOPES = "profile orders:read orders:write reviews:write catalog:write orders:manage"
MISSING_ORDER = to_global_id("Order", "0" * 32)
PLACE = """mutation($input: PlaceOrderInput!) {
  placeOrder(input: $input) { order { id } userErrors { code } } }"""


@dataclass
class World:
    """Two customers (Ann and Bob), staff, a product, and an order of each customer."""

    http: httpx.AsyncClient
    app: Starlette
    client_id: str
    ann: int
    bob: int
    product: str
    ann_order: str
    bob_order: str
    tokens: dict[str, str]


@dataclass(frozen=True)
class Operation:
    name: str
    scope: str
    document: str
    variables: Callable[[World], dict[str, Any]]
    # Who holds the right scope and may do it: "ann" (her own things) or "staff".
    actor: str = "ann"
    # Variables naming Bob's object instead of Ann's, where ownership matters.
    others: Callable[[World], dict[str, Any]] | None = None
    # Variables naming nothing that exists: when given, Bob's object must answer exactly
    # as this does (its existence is none of Ann's business); otherwise FORBIDDEN.
    missing: Callable[[World], dict[str, Any]] | None = None


def _product_input(world: World) -> dict[str, Any]:
    return {"input": {"sku": "NEW-1", "name": "New", "price": "1.00", "stock": 1}}


OPERATIONS = [
    Operation(
        "createProduct",
        "catalog:write",
        "mutation($input: CreateProductInput!) { createProduct(input: $input) "
        "{ product { id } userErrors { code } } }",
        _product_input,
        actor="staff",
    ),
    Operation(
        "updateProduct",
        "catalog:write",
        "mutation($input: UpdateProductInput!) { updateProduct(input: $input) "
        "{ product { id } userErrors { code } } }",
        lambda w: {"input": {"id": w.product, "stock": 99}},
        actor="staff",
    ),
    Operation(
        "deleteProduct",
        "catalog:write",
        "mutation($input: DeleteProductInput!) { deleteProduct(input: $input) "
        "{ deletedProductId userErrors { code } } }",
        lambda w: {"input": {"id": w.product}},
        actor="staff",
    ),
    Operation(
        "addReview",
        "reviews:write",
        "mutation($input: AddReviewInput!) { addReview(input: $input) "
        "{ review { id } userErrors { code } } }",
        lambda w: {"input": {"productId": w.product, "rating": 5}},
    ),
    Operation(
        "placeOrder",
        "orders:write",
        PLACE,
        lambda w: {"input": {"items": [{"productId": w.product, "quantity": 1}]}},
    ),
    Operation(
        "cancelOrder",
        "orders:write",
        "mutation($input: CancelOrderInput!) { cancelOrder(input: $input) "
        "{ order { status } userErrors { code } } }",
        lambda w: {"input": {"id": w.ann_order}},
        others=lambda w: {"input": {"id": w.bob_order}},
        missing=lambda w: {"input": {"id": MISSING_ORDER}},
    ),
    Operation(
        "updateOrderStatus",
        "orders:manage",
        "mutation($input: UpdateOrderStatusInput!) { updateOrderStatus(input: $input) "
        "{ order { status } userErrors { code } } }",
        lambda w: {"input": {"id": w.ann_order, "status": "PAID"}},
        actor="staff",
    ),
    Operation("me", "profile", "{ me { email } }", lambda w: {}),
    Operation("orders", "orders:read", "{ orders { totalCount } }", lambda w: {}),
    Operation(
        "order",
        "orders:read",
        "query($id: ID!) { order(id: $id) { number } }",
        lambda w: {"id": w.ann_order},
        others=lambda w: {"id": w.bob_order},
        missing=lambda w: {"id": MISSING_ORDER},
    ),
    Operation(
        "User.email",
        "profile",
        "query($id: ID!) { node(id: $id) { ... on User { email } } }",
        lambda w: {"id": to_global_id("User", w.ann)},
        others=lambda w: {"id": to_global_id("User", w.bob)},
    ),
    Operation(
        "User.orders",
        "orders:read",
        "query($id: ID!) { node(id: $id) { ... on User { orders { totalCount } } } }",
        lambda w: {"id": to_global_id("User", w.ann)},
        others=lambda w: {"id": to_global_id("User", w.bob)},
    ),
]


async def _order_of(http: httpx.AsyncClient, token: str, product: str) -> str:
    body = await graphql(
        http,
        PLACE,
        {"input": {"items": [{"productId": product, "quantity": 1}]}},
        headers={"Authorization": f"Bearer {token}"},
    )
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    app = make_app(settings)
    async with http_client(app) as http:
        ann = await make_user("ann@example.com")
        bob = await make_user("bob@example.com")
        await make_user("staff@example.com", staff=True)
        client = await make_client(SCOPES)
        # Review authors, so that their `User` is public and its fields' own rules show.
        reviewed = await make_product(2)
        for author in (ann, bob):
            await add_review(reviewed, author, 5)

        async def token(email: str, scope: str) -> str:
            found = await browser_tokens(http, client.client_id, email, scope=scope)
            return str(found["access_token"])

        product = to_global_id("Product", (await make_product(1, stock=50)).id)
        tokens = {
            "ann": await token("ann@example.com", SCOPES),
            "bob": await token("bob@example.com", SCOPES),
            "staff": await token("staff@example.com", SCOPES),
        }
        yield World(
            http=http,
            app=app,
            client_id=client.client_id,
            ann=ann.id,
            bob=bob.id,
            product=product,
            ann_order=await _order_of(http, tokens["ann"], product),
            bob_order=await _order_of(http, tokens["bob"], product),
            tokens=tokens,
        )


async def state() -> tuple[Any, ...]:
    """Everything a mutation here could change."""
    products = await Product.all().order_by("id").values_list("id", "stock", "review_count")
    orders = await Order.all().order_by("id").values_list("id", "status")
    return tuple(products), tuple(orders), await Review.all().count()


def b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


async def forged(world: World, scope: str, **changes: Any) -> str:
    """A token for Ann signed with our own key, with `changes` to otherwise valid claims."""
    key = await world.app.state.auth.resource.keys.signing_key()
    now = int(time.time())
    claims = {
        "iss": "http://127.0.0.1:8000",
        "sub": str(world.ann),
        "aud": "storefront",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": f"forged-{now}-{sorted(changes)}",
        "scope": scope,
        "client_id": world.client_id,
    } | changes
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    return str(jwt.encode(header, claims, key, algorithms=["ES256"]))


async def bad_tokens(world: World, token: str, email: str, scope: str) -> dict[str, str]:
    """Tokens that must be refused, each breaking one rule; `token` is a valid one."""
    header, payload, signature = token.split(".")
    past = int(time.time()) - 3600
    revoked = await browser_tokens(world.http, world.client_id, email, scope=scope)
    response = await world.http.post(
        "/oauth/revoke",
        data={"token": revoked["access_token"], "client_id": world.client_id},
    )
    assert response.status_code == 200, response.text
    return {
        "malformed": "not-a-jwt",
        "bad signature": f"{header}.{payload}.{signature[::-1]}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        "expired": await forged(world, scope, exp=past, iat=past - 60, nbf=past - 60),
        "wrong audience": await forged(world, scope, aud="another-api"),
        "wrong issuer": await forged(world, scope, iss="https://evil.example"),
        "revoked": revoked["access_token"],
    }


async def ask(world: World, operation: Operation, token: str | None, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await graphql(
        world.http, operation.document, variables or operation.variables(world), headers=headers
    )


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.name for op in OPERATIONS])
async def test_every_kind_of_token(world: World, operation: Operation) -> None:
    before = await state()
    valid = world.tokens[operation.actor]

    assert error_codes(await ask(world, operation, None)) == ["UNAUTHENTICATED"], "no token"
    email = f"{operation.actor}@example.com"
    for kind, token in (await bad_tokens(world, valid, email, operation.scope)).items():
        assert error_codes(await ask(world, operation, token)) == ["UNAUTHENTICATED"], kind

    other_scopes = " ".join(s for s in SCOPES.split() if s != operation.scope)
    if operation.actor == "ann":
        without = await browser_tokens(
            world.http, world.client_id, "ann@example.com", scope=other_scopes
        )
        assert error_codes(await ask(world, operation, without["access_token"])) == ["FORBIDDEN"]
    else:
        # A customer asking for a staff scope never gets it.
        assert error_codes(await ask(world, operation, world.tokens["ann"])) == ["FORBIDDEN"]
    if operation.others is not None:
        body = await ask(world, operation, valid, **operation.others(world))
        if operation.missing is None:
            assert error_codes(body) == ["FORBIDDEN"], "someone else's object"
        else:
            missing = await ask(world, operation, valid, **operation.missing(world))
            assert body == missing, "someone else's object"

    assert await state() == before

    body = await ask(world, operation, valid)
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert payload is not None
    if isinstance(payload, dict) and "userErrors" in payload:
        assert payload["userErrors"] == []

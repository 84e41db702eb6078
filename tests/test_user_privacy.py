"""Users are private: through `node`, `nodes` and `_entities`, a user who wrote no review
answers anonymous callers and other customers exactly as a missing user does (null, no
error); the user themself (scope `profile`) and staff (`orders:manage`) still see them.
A review's author is public, name only. Checked over HTTP with real tokens, on SQLite and
PostgreSQL, and batched: the statements don't grow with the number of users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models.accounts import User
from schema.relay import to_global_id
from server.settings import Settings
from tests.conftest import StatementCounter, graphql
from tests.factories import add_review, make_product, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client

SCOPES = "profile orders:read orders:write orders:manage"
NODE = "query($id: ID!) { node(id: $id) { id ... on User { name } } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User { name } } }"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"
MISSING = to_global_id("User", 999_999)


# Who calls: the e-mail and scopes of their token (None: no token).
CALLERS = {
    "anonymous": None,
    "other customer": ("bob@example.com", SCOPES),
    "herself": ("ann@example.com", SCOPES),
    "herself without profile": ("ann@example.com", "orders:read"),
    "staff": ("staff@example.com", SCOPES),
    "staff without orders:manage": ("staff@example.com", "profile"),
}


@dataclass
class Shop:
    http: httpx.AsyncClient
    users: dict[str, User]
    client_id: str
    tokens: dict[str, str]

    async def headers(self, caller: str) -> dict[str, str]:
        who = CALLERS[caller]
        if who is None:
            return {}
        if caller not in self.tokens:
            email, scope = who
            found = await browser_tokens(self.http, self.client_id, email, scope=scope)
            self.tokens[caller] = str(found["access_token"])
        return {"Authorization": f"Bearer {self.tokens[caller]}"}


@pytest.fixture
async def shop(settings: Settings) -> AsyncIterator[Shop]:
    async with http_client(make_app(settings)) as http:
        users = {
            "ann": await make_user("ann@example.com"),
            "bob": await make_user("bob@example.com"),
            "reviewer": await make_user("rita@example.com"),
            "staff": await make_user("staff@example.com", staff=True),
        }
        await add_review(await make_product(1), users["reviewer"], 5)
        client = await make_client(SCOPES)
        yield Shop(http, users, client.client_id, {})


async def ask(shop: Shop, caller: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    return await graphql(shop.http, query, variables, headers=await shop.headers(caller))


def requests(global_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (NODE, {"id": global_id}),
        (NODES, {"ids": [global_id]}),
        (ENTITIES, {"r": [{"__typename": "User", "id": global_id}]}),
    ]


SEES_ANN = {"herself", "staff"}


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_who_sees_a_user_who_wrote_nothing(shop: Shop, caller: str) -> None:
    ann = to_global_id("User", shop.users["ann"].id)
    for (query, variables), (_, missing) in zip(requests(ann), requests(MISSING), strict=True):
        body = await ask(shop, caller, query, variables)
        if caller in SEES_ANN:
            assert "errors" not in body, body
            assert "Ann" in str(body["data"]), body
        else:
            assert body == await ask(shop, caller, query, missing), (caller, query)
            assert "Ann" not in str(body)


@pytest.mark.parametrize("caller", ["anonymous", "other customer", "staff"])
async def test_staff_are_private_too(shop: Shop, caller: str) -> None:
    staff = to_global_id("User", shop.users["staff"].id)
    body = await ask(shop, caller, NODE, {"id": staff})
    expected = {"id": staff, "name": "Staff"} if caller == "staff" else None
    assert body == {"data": {"node": expected}}


@pytest.mark.parametrize("caller", ["anonymous", "other customer", "herself without profile"])
async def test_a_review_author_is_public_by_name_only(shop: Shop, caller: str) -> None:
    reviewer = to_global_id("User", shop.users["reviewer"].id)
    for query, variables in requests(reviewer):
        body = await ask(shop, caller, query, variables)
        assert "errors" not in body, body
        assert "Rita" in str(body["data"])
    email = await ask(
        shop,
        caller,
        "query($id: ID!) { node(id: $id) { ... on User { email } } }",
        {"id": reviewer},
    )
    assert email["data"] == {"node": None}
    assert email["errors"][0]["extensions"]["code"] in {"UNAUTHENTICATED", "FORBIDDEN"}


@pytest.mark.parametrize("door", ["nodes", "_entities"])
async def test_hiding_users_is_batched(shop: Shop, sql: StatementCounter, door: str) -> None:
    product = await make_product(2)
    users = [await User.create(email=f"u{n}@example.com", name=f"U{n}") for n in range(30)]
    for user in users[::2]:
        await add_review(product, user, 3)
    ids = [to_global_id("User", user.id) for user in users]

    counts = []
    for size in (3, 30):
        if door == "nodes":
            query, variables = NODES, {"ids": ids[:size]}
        else:
            query, variables = (
                ENTITIES,
                {"r": [{"__typename": "User", "id": i} for i in ids[:size]]},
            )
        await shop.headers("other customer")  # signed in before counting
        sql.reset()
        body = await ask(shop, "other customer", query, variables)
        found = body["data"][door]
        assert [bool(item) for item in found] == [n % 2 == 0 for n in range(size)], body
        # The token's checks are auth's (revocation list, account state), cached there.
        auth = ("oauth_", "tokens_valid_after")
        counts.append(sum(not any(word in s for word in auth) for s in sql.statements))
    # the users, and which of them wrote a review
    assert counts == [2, 2]

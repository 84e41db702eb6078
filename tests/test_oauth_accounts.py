"""Accounts that can be switched off, sessions that can be ended, staff rights that can
be taken away, as an operator does it (`storefront deactivate-user`, `activate-user`,
`revoke-tokens`, `set-staff`) and as a client then sees it: sign-in, refresh and access
tokens over HTTP, with real tokens from the token endpoint, on SQLite and PostgreSQL.

Instances re-read a user's account state after ACCOUNT_STATUS_SECONDS; most tests set it
to 0 (read on every request), one shows the window.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.oauth import AuthorizationCode, RefreshToken
from server.settings import ConfigError, Settings, load_settings
from tests.conftest import StatementCounter, error_code, graphql
from tests.factories import make_user
from tests.oauth import (
    authorize_url,
    browser_tokens,
    exchange_code,
    http_client,
    make_app,
    make_client,
    pkce_pair,
    redirect_params,
    refresh,
    sign_in,
)
from tests.test_cli_accounts import assert_refused, storefront

SCOPES = "profile orders:read catalog:write"
ME = "{ me { email } }"
CREATE = (
    "mutation($input: CreateProductInput!) { createProduct(input: $input) "
    "{ product { sku } userErrors { code } } }"
)


@pytest.fixture
def instant(settings: Settings) -> Settings:
    """Every request reads the account's state."""
    return replace(settings, account_status_seconds=0)


@pytest.fixture
async def http(instant: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(make_app(instant)) as client:
        yield client


async def signed_in(http: httpx.AsyncClient, email: str = "ann@example.com") -> dict[str, Any]:
    client = await make_client(SCOPES)
    return await browser_tokens(http, client.client_id, email, scope=SCOPES) | {
        "client_id": client.client_id
    }


async def me(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    return await graphql(http, ME, headers={"Authorization": f"Bearer {token}"})


def next_second() -> None:
    """Tokens carry their issue time in whole seconds, and a token issued in the second
    of a cut-off is refused too: a sign-in right after one waits for the next second."""
    time.sleep(1.05 - time.time() % 1)


def cli(db: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    result = storefront(db, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    output: dict[str, Any] = json.loads(result.stdout)
    return output


async def test_deactivated_user_is_locked_out_everywhere(
    db: str, tmp_path: Path, http: httpx.AsyncClient, instant: Settings
) -> None:
    await make_user()
    tokens = await signed_in(http)
    assert (await me(http, tokens["access_token"]))["data"]["me"]["email"] == "ann@example.com"

    state = cli(db, tmp_path, "deactivate-user", "--email", "ANN@example.com")
    assert state["is_active"] is False

    # Every instance refuses the access token (here: a second app on the same database).
    async with http_client(make_app(instant)) as other:
        for instance in (http, other):
            assert error_code(await me(instance, tokens["access_token"])) == "UNAUTHENTICATED"
    refused = await refresh(http, tokens["client_id"], tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert await RefreshToken.filter(revoked_at=None).count() == 0

    # The login form answers as for a wrong password: nothing says the account exists.
    _, challenge = pkce_pair()
    form = await sign_in(http, authorize_url(tokens["client_id"], challenge, scope=SCOPES))
    assert form.status_code == 400
    assert "Wrong e-mail or password" in form.text
    assert await AuthorizationCode.filter(used_at=None).count() == 0

    cli_token = storefront(
        db, tmp_path, "issue-token", "--user", "ann@example.com", "--scopes", "profile"
    )
    assert_refused(cli_token, "deactivated")

    assert cli(db, tmp_path, "activate-user", "--email", "ann@example.com")["is_active"] is True
    next_second()
    again = await signed_in(http)
    assert (await me(http, again["access_token"]))["data"]["me"]["email"] == "ann@example.com"
    # Sessions ended by the deactivation stay ended.
    assert error_code(await me(http, tokens["access_token"])) == "UNAUTHENTICATED"


async def test_a_code_issued_before_deactivation_is_refused(
    db: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    await make_user()
    client = await make_client(SCOPES)
    verifier, challenge = pkce_pair()
    params = redirect_params(
        await sign_in(http, authorize_url(client.client_id, challenge, scope=SCOPES))
    )
    cli(db, tmp_path, "deactivate-user", "--email", "ann@example.com")

    response = await exchange_code(http, client.client_id, params["code"], verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_revoke_tokens_ends_every_session(
    db: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    await make_user()
    await make_user("bob@example.com")
    first, second = await signed_in(http), await signed_in(http)
    bobs = await signed_in(http, "bob@example.com")

    state = cli(db, tmp_path, "revoke-tokens", "--user", "ann@example.com")
    assert state["is_active"] is True

    for tokens in (first, second):
        assert error_code(await me(http, tokens["access_token"])) == "UNAUTHENTICATED"
        response = await refresh(http, tokens["client_id"], tokens["refresh_token"])
        assert response.json()["error"] == "invalid_grant"
    # Someone else's sessions go on.
    assert (await me(http, bobs["access_token"]))["data"]["me"]["email"] == "bob@example.com"

    next_second()
    fresh = await signed_in(http)
    assert (await me(http, fresh["access_token"]))["data"]["me"]["email"] == "ann@example.com"


async def test_removing_staff_rights_stops_staff_scopes(
    db: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    await make_user("sam@example.com", staff=True)
    tokens = await signed_in(http, "sam@example.com")
    token = tokens["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def product(sku: str) -> dict[str, Any]:
        return {"input": {"sku": sku, "name": f"Lamp {sku}", "price": "9.99", "stock": 1}}

    created = await graphql(http, CREATE, product("LMP-1"), headers=headers)
    assert created["data"]["createProduct"]["product"] == {"sku": "LMP-1"}

    assert (
        cli(db, tmp_path, "set-staff", "--email", "sam@example.com", "--no-staff")["is_staff"]
        is False
    )

    refused = await graphql(http, CREATE, product("LMP-2"), headers=headers)
    assert error_code(refused) == "FORBIDDEN"
    # The rest of the token still works: Sam is still a customer.
    assert (await me(http, token))["data"]["me"]["email"] == "sam@example.com"
    refreshed = await refresh(http, tokens["client_id"], tokens["refresh_token"])
    assert refreshed.status_code == 200
    assert "catalog:write" not in refreshed.json()["scope"].split()

    cli(db, tmp_path, "set-staff", "--email", "sam@example.com", "--staff")
    allowed = await graphql(http, CREATE, product("LMP-3"), headers=headers)
    assert allowed["data"]["createProduct"]["product"] == {"sku": "LMP-3"}


async def test_account_state_is_cached_for_the_configured_window(
    db: str, tmp_path: Path, settings: Settings, sql: StatementCounter
) -> None:
    await make_user()
    async with http_client(make_app(replace(settings, account_status_seconds=1.0))) as http:
        tokens = await signed_in(http)
        await me(http, tokens["access_token"])
        sql.reset()
        assert error_code(await me(http, tokens["access_token"])) is None
        # Cached: no statement about the account on this request.
        assert not [s for s in sql.statements if "tokens_valid_after" in s]

        cli(db, tmp_path, "deactivate-user", "--email", "ann@example.com")
        await asyncio.sleep(1.1)
        assert error_code(await me(http, tokens["access_token"])) == "UNAUTHENTICATED"


async def test_unknown_users_are_one_line(db: str, tmp_path: Path) -> None:
    for command in (
        ("deactivate-user", "--email", "nobody@example.com"),
        ("activate-user", "--email", "nobody@example.com"),
        ("revoke-tokens", "--user", "nobody@example.com"),
        ("set-staff", "--email", "nobody@example.com", "--no-staff"),
    ):
        assert_refused(storefront(db, tmp_path, *command), "no user")


def test_the_cache_window_is_a_setting() -> None:
    assert load_settings({}, env_file=None).account_status_seconds == 5
    assert (
        load_settings({"ACCOUNT_STATUS_SECONDS": "0.5"}, env_file=None).account_status_seconds
        == 0.5
    )
    for bad in ("-1", "soon", "nan", "86400"):
        with pytest.raises(ConfigError, match=r"^ACCOUNT_STATUS_SECONDS: "):
            load_settings({"ACCOUNT_STATUS_SECONDS": bad}, env_file=None)

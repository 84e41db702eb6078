"""`storefront list-clients`, `issue-token --expires-in` and what an expired token says,
run as a user runs them: in a subprocess, on the test's database (SQLite and PostgreSQL);
the checks of `issue-token`'s arguments run once, with no database to reach."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from auth.accounts import create_user
from auth.clients import create_client
from auth.tokens import peek
from server.cli import TOKEN_SECONDS_MAX, TOKEN_SECONDS_MIN
from server.settings import Settings
from tests.oauth import http_client, make_app
from tests.test_cli_accounts import assert_refused, storefront

EMAIL = "ann@example.com"
# Nothing listens there: a command given it must refuse its arguments before any SQL.
NO_DATABASE = "postgres://postgres@127.0.0.1:1/storefront"


async def test_list_clients_prints_one_json_object_per_client(db: str, tmp_path: Path) -> None:
    assert storefront(db, tmp_path, "list-clients").stdout == ""
    web = await create_client(
        "Web shop", "profile orders:write", ["http://localhost:5173/callback"], public=True
    )
    warehouse = await create_client("Warehouse", "orders:manage", [], public=False)

    result = storefront(db, tmp_path, "list-clients")

    assert result.returncode == 0, result.stderr
    listed = [json.loads(line) for line in result.stdout.splitlines()]
    for entry in listed:
        assert set(entry) == {
            "client_id",
            "name",
            "public",
            "scopes",
            "redirect_uris",
            "grant_types",
            "created_at",
        }
    assert [
        (entry["client_id"], entry["name"], entry["public"], entry["scopes"]) for entry in listed
    ] == [
        (web.client_id, "Web shop", True, "profile orders:write"),
        (warehouse.client_id, "Warehouse", False, "orders:manage"),
    ]
    assert listed[0]["redirect_uris"] == ["http://localhost:5173/callback"]
    assert listed[1]["grant_types"] == ["client_credentials"]
    assert warehouse.client_secret is not None
    assert warehouse.client_secret not in result.stdout


async def test_issue_token_expires_in(db: str, tmp_path: Path) -> None:
    await create_user(EMAIL, "Ann", "long enough password")

    result = storefront(
        db, tmp_path, "issue-token", "--user", EMAIL, "--scopes", "profile", "--expires-in", "3600"
    )
    default = storefront(db, tmp_path, "issue-token", "--user", EMAIL, "--scopes", "profile")

    assert result.returncode == 0, result.stderr
    claims = peek(result.stdout.strip()).claims
    assert claims["exp"] - claims["iat"] == 3600
    default_claims = peek(default.stdout.strip()).claims
    assert default_claims["exp"] - default_claims["iat"] == Settings().access_token_seconds


@pytest.mark.parametrize("seconds", [TOKEN_SECONDS_MIN - 1, TOKEN_SECONDS_MAX + 1, 0, -5])
async def test_issue_token_refuses_a_lifetime_out_of_bounds(tmp_path: Path, seconds: int) -> None:
    result = storefront(
        NO_DATABASE,
        tmp_path,
        "issue-token",
        "--user",
        EMAIL,
        "--scopes",
        "profile",
        f"--expires-in={seconds}",
    )

    assert_refused(result, f"--expires-in must be {TOKEN_SECONDS_MIN} to {TOKEN_SECONDS_MAX}")


async def test_issue_token_refuses_an_issuer_that_cannot_be_ours(tmp_path: Path) -> None:
    result = storefront(
        NO_DATABASE,
        tmp_path,
        "issue-token",
        "--user",
        EMAIL,
        "--scopes",
        "profile",
        "--issuer",
        "http://shop.example",
    )

    assert_refused(result, "--issuer must be an https:// URL")


async def test_an_expired_token_says_how_to_get_a_new_one(settings: Settings) -> None:
    await create_user(EMAIL, "Ann", "long enough password")
    app = make_app(replace(settings, access_token_seconds=-600))
    token = await app.state.auth.service.issue_token_for_user(EMAIL, "profile")
    async with http_client(app) as http:
        response = await http.post(
            "/graphql",
            json={"query": "{ me { email } }"},
            headers={"Authorization": f"Bearer {token}"},
        )

    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in error["message"]
    assert "refresh token" in error["message"]
    assert "storefront issue-token" in error["message"]

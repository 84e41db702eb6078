"""The authorization server over HTTP, as clients use it: the authorization-code flow with
PKCE as a browser app does it, refresh-token rotation, client credentials, revocation,
introspection, metadata, JWKS and key rotation. Runs on SQLite and PostgreSQL.

The helpers live in tests/oauth.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from auth.errors import InvalidToken
from auth.keys import rotate_keys
from models.accounts import User
from models.oauth import AuthorizationCode, OAuthClient, RefreshToken
from server.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.oauth import (
    REDIRECT_URI,
    authorize_url,
    browser_tokens,
    client_credentials,
    exchange_code,
    form_action,
    form_fields,
    http_client,
    jwt_parts,
    make_app,
    make_client,
    pkce_pair,
    redirect_params,
    refresh,
    sign_in,
)

# ---------------------------------------------------------------- fixtures


@pytest.fixture
def app(settings: Settings) -> Starlette:
    return make_app(settings)


@pytest.fixture
async def http(app: Starlette) -> Any:
    async with http_client(app) as client:
        yield client


# ---------------------------------------------------------------- authorization code + PKCE


async def test_browser_flow_with_pkce_issues_tokens(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    user = await make_user()
    client = await make_client()
    verifier, challenge = pkce_pair()

    page = await http.get(authorize_url(client.client_id, challenge))
    assert page.status_code == 200
    assert "Web shop" in page.text
    assert {"username", "password", "csrf_token"} <= set(form_fields(page.text))
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    fields = form_fields(page.text) | {"username": "Ann@Example.com", "password": PASSWORD}
    params = redirect_params(await http.post(form_action(page.text), data=fields))
    assert params["state"] == "state-123"

    response = await exchange_code(http, client.client_id, params["code"], verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "orders:read orders:write"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_token"]

    header, claims = jwt_parts(tokens["access_token"])
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == "storefront"
    assert claims["sub"] == str(user.id)
    assert claims["client_id"] == client.client_id
    assert claims["scope"] == "orders:read orders:write"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]

    viewer = await app.state.auth.resource.viewer(f"Bearer {tokens['access_token']}")
    assert viewer.user_id == user.id
    assert viewer.client_id == client.client_id
    assert viewer.scopes == {"orders:read", "orders:write"}
    assert not viewer.is_staff


async def test_codes_and_tokens_are_stored_hashed(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    verifier, challenge = pkce_pair()
    params = redirect_params(await sign_in(http, authorize_url(client.client_id, challenge)))
    tokens = (await exchange_code(http, client.client_id, params["code"], verifier)).json()

    code_row = await AuthorizationCode.get()
    token_row = await RefreshToken.get()
    assert code_row.code_hash == hashlib.sha256(params["code"].encode()).hexdigest()
    assert token_row.token_hash == hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    assert (await User.get()).password_hash.startswith("$argon2id$")  # type: ignore[union-attr]


async def test_public_client_must_send_a_code_challenge(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    response = await http.get(authorize_url(client.client_id, None))
    params = redirect_params(response)
    assert params["error"] == "invalid_request"
    assert params["state"] == "state-123"


async def test_plain_code_challenge_is_refused(http: httpx.AsyncClient) -> None:
    client = await make_client()
    url = authorize_url(client.client_id, "a" * 43, code_challenge_method="plain")
    assert redirect_params(await http.get(url))["error"] == "invalid_request"


async def test_wrong_or_missing_code_verifier_is_refused(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    _, challenge = pkce_pair()
    for verifier, error in ((pkce_pair()[0], "invalid_grant"), (None, "invalid_request")):
        params = redirect_params(await sign_in(http, authorize_url(client.client_id, challenge)))
        response = await exchange_code(http, client.client_id, params["code"], verifier)
        assert response.status_code == 400
        assert response.json()["error"] == error


async def test_a_code_works_once_and_its_reuse_revokes_what_it_gave(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    await make_user()
    client = await make_client()
    verifier, challenge = pkce_pair()
    params = redirect_params(await sign_in(http, authorize_url(client.client_id, challenge)))
    first = await exchange_code(http, client.client_id, params["code"], verifier)
    assert first.status_code == 200

    again = await exchange_code(http, client.client_id, params["code"], verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"

    tokens = first.json()
    assert (await refresh(http, client.client_id, tokens["refresh_token"])).status_code == 400
    with pytest.raises(InvalidToken, match="revoked"):
        await app.state.auth.resource.viewer(f"Bearer {tokens['access_token']}")


async def test_a_code_is_bound_to_its_client(http: httpx.AsyncClient) -> None:
    await make_user()
    client, other = await make_client(), await make_client()
    verifier, challenge = pkce_pair()
    params = redirect_params(await sign_in(http, authorize_url(client.client_id, challenge)))
    response = await exchange_code(http, other.client_id, params["code"], verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_wrong_password_shows_the_form_again(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    _, challenge = pkce_pair()
    for email, password in (("ann@example.com", "wrong password"), ("bob@example.com", PASSWORD)):
        response = await sign_in(http, authorize_url(client.client_id, challenge), email, password)
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "Wrong e-mail or password" in response.text
        assert form_fields(response.text)["username"] == email
    assert await AuthorizationCode.all().count() == 0


async def test_sign_in_without_the_csrf_token_is_refused(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    _, challenge = pkce_pair()
    url = authorize_url(client.client_id, challenge)
    page = await http.get(url)
    credentials = {"username": "ann@example.com", "password": PASSWORD}

    forged = await http.post(form_action(page.text), data=credentials | {"csrf_token": "x" * 43})
    assert forged.status_code == 403
    http.cookies.clear()
    no_cookie = await http.post(form_action(page.text), data=form_fields(page.text) | credentials)
    assert no_cookie.status_code == 403
    assert await AuthorizationCode.all().count() == 0


async def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    http: httpx.AsyncClient,
) -> None:
    client = await make_client()
    _, challenge = pkce_pair()
    url = authorize_url(client.client_id, challenge, redirect_uri="https://evil.example/cb")
    response = await http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not valid" in response.text

    unknown = await http.get(authorize_url("c_nobody", challenge))
    assert unknown.status_code == 400
    assert "location" not in unknown.headers


async def test_customers_never_get_staff_scopes(app: Starlette, http: httpx.AsyncClient) -> None:
    await make_user("cat@example.com")
    await make_user("sam@example.com", staff=True)
    client = await make_client("orders:write catalog:write")
    scope = {"scope": "orders:write catalog:write"}

    customer = await browser_tokens(http, client.client_id, "cat@example.com", **scope)
    assert customer["scope"] == "orders:write"
    staff = await browser_tokens(http, client.client_id, "sam@example.com", **scope)
    assert staff["scope"] == "orders:write catalog:write"
    viewer = await app.state.auth.resource.viewer(f"Bearer {staff['access_token']}")
    assert viewer.is_staff

    only_staff = authorize_url(client.client_id, pkce_pair()[1], scope="catalog:write")
    params = redirect_params(await sign_in(http, only_staff, "cat@example.com"))
    assert params["error"] == "invalid_scope"


async def test_a_client_cannot_ask_for_scopes_it_was_not_given(http: httpx.AsyncClient) -> None:
    client = await make_client("orders:write")
    url = authorize_url(client.client_id, pkce_pair()[1], scope="orders:write orders:manage")
    assert redirect_params(await http.get(url))["error"] == "invalid_scope"


# ---------------------------------------------------------------- refresh tokens


async def test_refresh_tokens_rotate_and_reuse_revokes_the_family(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    await make_user()
    client = await make_client()
    first = await browser_tokens(http, client.client_id)

    second_response = await refresh(http, client.client_id, first["refresh_token"])
    assert second_response.status_code == 200, second_response.text
    second = second_response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"]
    third = (await refresh(http, client.client_id, second["refresh_token"])).json()

    reused = await refresh(http, client.client_id, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    # The thief or the client: whoever holds the newest token is locked out too.
    newest = await refresh(http, client.client_id, third["refresh_token"])
    assert newest.status_code == 400
    with pytest.raises(InvalidToken, match="revoked"):
        await app.state.auth.resource.viewer(f"Bearer {third['access_token']}")


async def test_refresh_may_narrow_but_not_widen_the_scope(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    tokens = await browser_tokens(http, client.client_id, scope="orders:read")
    wider = await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client.client_id,
            "scope": "orders:read orders:write",
        },
    )
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


async def test_a_refresh_token_is_bound_to_its_client(http: httpx.AsyncClient) -> None:
    await make_user()
    client, other = await make_client(), await make_client()
    tokens = await browser_tokens(http, client.client_id)
    response = await refresh(http, other.client_id, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_refresh_follows_the_users_current_rights(http: httpx.AsyncClient) -> None:
    user = await make_user(staff=True)
    client = await make_client("orders:write catalog:write")
    tokens = await browser_tokens(http, client.client_id, scope="orders:write catalog:write")
    await User.filter(id=user.id).update(is_staff=False)
    refreshed = (await refresh(http, client.client_id, tokens["refresh_token"])).json()
    assert refreshed["scope"] == "orders:write"


# ---------------------------------------------------------------- client credentials


async def test_client_credentials_token_acts_as_the_client(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    client = await make_client("catalog:write orders:manage", public=False)
    response = await client_credentials(http, client)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert "refresh_token" not in tokens
    assert tokens["scope"] == "catalog:write orders:manage"
    _, claims = jwt_parts(tokens["access_token"])
    assert claims["sub"] == claims["client_id"] == client.client_id

    viewer = await app.state.auth.resource.viewer(f"Bearer {tokens['access_token']}")
    assert viewer.is_client
    assert viewer.user_id is None
    assert viewer.scopes == {"catalog:write", "orders:manage"}

    narrowed = await client_credentials(http, client, scope="catalog:write")
    assert narrowed.json()["scope"] == "catalog:write"
    assert client.client_secret is not None
    posted = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    assert posted.status_code == 200


async def test_client_credentials_refusals(http: httpx.AsyncClient) -> None:
    client = await make_client("catalog:write", public=False)
    wrong_secret = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, "nope")
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.headers["www-authenticate"].startswith("Basic")

    wider = await client_credentials(http, client, scope="catalog:write orders:manage")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"

    public = await make_client()
    as_public = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": public.client_id}
    )
    assert as_public.status_code in {400, 401}
    assert as_public.json()["error"] == "invalid_client"

    stored = await OAuthClient.get(client_id=client.client_id)
    assert client.client_secret is not None
    assert stored.secret_hash == hashlib.sha256(client.client_secret.encode()).hexdigest()


async def test_malformed_token_requests_get_oauth_errors(http: httpx.AsyncClient) -> None:
    client = await make_client("catalog:write", public=False)
    assert client.client_secret is not None
    auth = (client.client_id, client.client_secret)

    as_json = await http.post("/oauth/token", json={"grant_type": "client_credentials"}, auth=auth)
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"

    repeated = await http.post(
        "/oauth/token",
        content="grant_type=client_credentials&scope=catalog:write&scope=catalog:write",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert repeated.json()["error"] == "invalid_request"

    unknown = await http.post("/oauth/token", data={"grant_type": "password"}, auth=auth)
    assert unknown.json()["error"] == "unsupported_grant_type"


# ---------------------------------------------------------------- revocation, introspection


async def test_revoking_an_access_token(app: Starlette, http: httpx.AsyncClient) -> None:
    client = await make_client("catalog:write", public=False)
    assert client.client_secret is not None
    auth = (client.client_id, client.client_secret)
    token = (await client_credentials(http, client)).json()["access_token"]

    revoked = await http.post("/oauth/revoke", data={"token": token}, auth=auth)
    assert revoked.status_code == 200
    with pytest.raises(InvalidToken, match="revoked"):
        await app.state.auth.resource.viewer(f"Bearer {token}")
    introspected = await http.post("/oauth/introspect", data={"token": token}, auth=auth)
    assert introspected.json() == {"active": False}

    # RFC 7009: an unknown token is not an error.
    assert (await http.post("/oauth/revoke", data={"token": "junk"}, auth=auth)).status_code == 200


async def test_a_public_client_revokes_its_refresh_token(http: httpx.AsyncClient) -> None:
    await make_user()
    client = await make_client()
    tokens = await browser_tokens(http, client.client_id)
    response = await http.post(
        "/oauth/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": client.client_id,
        },
    )
    assert response.status_code == 200
    assert (await refresh(http, client.client_id, tokens["refresh_token"])).status_code == 400


async def test_introspection(http: httpx.AsyncClient) -> None:
    client = await make_client("catalog:write", public=False)
    other = await make_client("catalog:write", public=False)
    assert client.client_secret is not None
    assert other.client_secret is not None
    token = (await client_credentials(http, client)).json()["access_token"]

    own = await http.post(
        "/oauth/introspect", data={"token": token}, auth=(client.client_id, client.client_secret)
    )
    body = own.json()
    assert body["active"] is True
    assert body["client_id"] == client.client_id
    assert body["scope"] == "catalog:write"
    assert body["iss"] == "http://127.0.0.1:8000"
    assert body["token_type"] == "Bearer"

    foreign = await http.post(
        "/oauth/introspect", data={"token": token}, auth=(other.client_id, other.client_secret)
    )
    assert foreign.json() == {"active": False}

    public = await make_client()
    as_public = await http.post(
        "/oauth/introspect", data={"token": token, "client_id": public.client_id}
    )
    assert as_public.json()["error"] == "invalid_client"


async def test_introspecting_a_refresh_token(http: httpx.AsyncClient) -> None:
    user = await make_user()
    client = await make_client("orders:write", public=False)
    assert client.client_secret is not None
    verifier, challenge = pkce_pair()
    params = redirect_params(
        await sign_in(http, authorize_url(client.client_id, challenge, scope="orders:write"))
    )
    tokens = (
        await http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(client.client_id, client.client_secret),
        )
    ).json()
    body = (
        await http.post(
            "/oauth/introspect",
            data={"token": tokens["refresh_token"]},
            auth=(client.client_id, client.client_secret),
        )
    ).json()
    assert body["active"] is True
    assert body["sub"] == str(user.id)
    assert body["scope"] == "orders:write"


# ---------------------------------------------------------------- metadata, keys, transport


async def test_metadata_and_jwks(http: httpx.AsyncClient) -> None:
    metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == "http://127.0.0.1:8000"
    assert metadata["token_endpoint"] == "http://127.0.0.1:8000/oauth/token"
    assert metadata["jwks_uri"] == "http://127.0.0.1:8000/.well-known/jwks.json"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "catalog:write" in metadata["scopes_supported"]

    client = await make_client("catalog:write", public=False)
    kid = jwt_parts((await client_credentials(http, client)).json()["access_token"])[0]["kid"]
    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert kid in {key["kid"] for key in keys}
    assert all("d" not in key and key["kty"] == "EC" for key in keys)


async def test_rotation_keeps_tokens_of_the_previous_key_valid(settings: Settings) -> None:
    client = await make_client("catalog:write", public=False)
    async with http_client(make_app(settings)) as before:
        old_token = (await client_credentials(before, client)).json()["access_token"]

    await rotate_keys(settings.access_token_seconds)

    app = make_app(settings)
    async with http_client(app) as after:
        new_token = (await client_credentials(after, client)).json()["access_token"]
        published = {
            key["kid"] for key in (await after.get("/.well-known/jwks.json")).json()["keys"]
        }
    old_kid, new_kid = jwt_parts(old_token)[0]["kid"], jwt_parts(new_token)[0]["kid"]
    assert old_kid != new_kid
    assert {old_kid, new_kid} <= published
    for token in (old_token, new_token):
        assert (
            await app.state.auth.resource.viewer(f"Bearer {token}")
        ).client_id == client.client_id


async def test_plain_http_is_refused_for_a_public_issuer(settings: Settings) -> None:
    public = replace(settings, oauth_server_issuer="https://shop.example")
    client = await make_client("catalog:write", public=False)
    async with http_client(make_app(public)) as http:
        response = await client_credentials(http, client)
    assert response.status_code == 400
    assert response.json()["error"] == "insecure_transport"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(public)), base_url="https://shop.example"
    ) as https:
        assert (await client_credentials(https, client)).status_code == 200


async def test_through_uvicorn(live_server: str) -> None:
    """The real server: keys made at start-up, the ORM reachable from request tasks."""
    client = await make_client("catalog:write", public=False)
    assert client.client_secret is not None
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await client_credentials(http, client)
        assert response.status_code == 200, response.text
        kid = jwt_parts(response.json()["access_token"])[0]["kid"]
        keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert kid in {key["kid"] for key in keys}

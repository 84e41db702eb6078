"""Secrets that must not be forgeable: private signing keys encrypted at rest with
OAUTH_KEY_SECRET (and the service refusing to start without it, or with the wrong one),
and the login form's anti-forgery token, signed by the server. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from joserfc.jwk import ECKey

from auth.csrf import new_csrf_token
from auth.keys import KeyCipher, KeySecretError, KeyStore, rotate_keys
from models.oauth import AuthorizationCode, SigningKey
from server.settings import ConfigError, Settings, load_settings
from tests.factories import PASSWORD, make_user
from tests.oauth import (
    authorize_url,
    client_credentials,
    form_action,
    form_fields,
    http_client,
    make_app,
    make_client,
    pkce_pair,
)
from tests.test_cli_accounts import storefront

SECRET = "k" * 40
OTHER_SECRET = "o" * 40


def assert_encrypted(row: SigningKey) -> None:
    assert row.private_jwk.startswith("aesgcm1:")
    # No JWK member of the private key, nor any JSON, readable in the row.
    assert '"d"' not in row.private_jwk
    assert "{" not in row.private_jwk


async def test_keys_are_encrypted_at_rest_and_still_sign(settings: Settings) -> None:
    app = make_app(replace(settings, oauth_key_secret=SECRET))
    await app.state.auth.keys.ensure()
    rows = await SigningKey.all()
    assert len(rows) == 1
    assert_encrypted(rows[0])

    client = await make_client("catalog:write", public=False)
    async with http_client(app) as http:
        response = await client_credentials(http, client)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        jwks = (await http.get("/.well-known/jwks.json")).json()
    assert all("d" not in key for key in jwks["keys"])
    assert (await app.state.auth.resource.viewer(f"Bearer {token}")).client_id == (client.client_id)


async def test_plain_keys_are_encrypted_on_first_start_with_a_secret(settings: Settings) -> None:
    await KeyStore(settings.access_token_seconds).ensure()  # a database from before
    plain = await SigningKey.get()
    assert plain.private_jwk.startswith("{")
    before = make_app(settings)
    client = await make_client("catalog:write", public=False)
    async with http_client(before) as http:
        token = (await client_credentials(http, client)).json()["access_token"]

    after = make_app(replace(settings, oauth_key_secret=SECRET))
    await after.state.auth.keys.ensure()
    row = await SigningKey.get()
    assert row.kid == plain.kid
    assert_encrypted(row)
    # Tokens signed before the move stay valid.
    assert (await after.state.auth.resource.viewer(f"Bearer {token}")).client_id == (
        client.client_id
    )


async def test_rotation_with_encryption(settings: Settings) -> None:
    encrypted = replace(settings, oauth_key_secret=SECRET)
    app = make_app(encrypted)
    client = await make_client("catalog:write", public=False)
    async with http_client(app) as http:
        old = (await client_credentials(http, client)).json()["access_token"]
    new_kid = await rotate_keys(settings.access_token_seconds, KeyCipher(SECRET))
    for row in await SigningKey.all():
        assert_encrypted(row)

    fresh = make_app(encrypted)
    async with http_client(fresh) as http:
        new = (await client_credentials(http, client)).json()["access_token"]
    for token in (old, new):
        viewer = await fresh.state.auth.resource.viewer(f"Bearer {token}")
        assert viewer.client_id == client.client_id
    assert json.loads(base64.urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == new_kid


async def test_a_wrong_or_missing_secret_is_refused(settings: Settings) -> None:
    await KeyStore(settings.access_token_seconds, KeyCipher(SECRET)).ensure()
    with pytest.raises(KeySecretError, match="OAUTH_KEY_SECRET does not decrypt"):
        await KeyStore(settings.access_token_seconds, KeyCipher(OTHER_SECRET)).ensure()
    with pytest.raises(KeySecretError, match="OAUTH_KEY_SECRET: the signing keys"):
        await KeyStore(settings.access_token_seconds).ensure()
    # Nothing was written by the refused starts: still one key, readable with the secret.
    assert await SigningKey.all().count() == 1
    await KeyStore(settings.access_token_seconds, KeyCipher(SECRET)).ensure()


async def test_serve_with_the_wrong_secret_stops_with_one_line(db: str, tmp_path: Path) -> None:
    assert storefront(db, tmp_path, "rotate-keys", env={"OAUTH_KEY_SECRET": SECRET}).returncode == 0
    rows = await SigningKey.all()
    assert rows
    assert all(row.private_jwk.startswith("aesgcm1:") for row in rows)

    result = subprocess.run(  # noqa: ASYNC221 (the test waits for the command, as a user would)
        [sys.executable, "-m", "server.cli", "serve", "--port", "1"],
        env={**os.environ, "DATABASE_URL": db, "OAUTH_KEY_SECRET": OTHER_SECRET},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "OAUTH_KEY_SECRET does not decrypt" in lines[0]


def test_a_real_deployment_needs_the_secret() -> None:
    public = {"OAUTH_SERVER_ISSUER": "https://shop.example"}
    with pytest.raises(ConfigError, match=r"^OAUTH_KEY_SECRET: must be set"):
        load_settings(public, env_file=None)
    with pytest.raises(ConfigError, match=r"^OAUTH_KEY_SECRET: must be at least 32"):
        load_settings(public | {"OAUTH_KEY_SECRET": "short"}, env_file=None)
    assert load_settings(public | {"OAUTH_KEY_SECRET": SECRET}, env_file=None).oauth_key_secret
    # A loopback issuer (development) may go without.
    assert load_settings({}, env_file=None).oauth_key_secret is None


def test_refusal_to_start_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve"],
        env={**os.environ, "OAUTH_SERVER_ISSUER": "https://shop.example"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "storefront: configuration error: OAUTH_KEY_SECRET: must be set"
    )
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the login form's CSRF token


class ForeignKeys:
    """Another deployment's key, under the kid of ours (kids are public, in the JWKS)."""

    def __init__(self, kid: str) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)

    async def signing_key(self) -> ECKey:
        return self.key


async def test_a_planted_csrf_cookie_is_useless(settings: Settings) -> None:
    await make_user()
    client = await make_client()
    _, challenge = pkce_pair()
    credentials = {"username": "ann@example.com", "password": PASSWORD}
    async with http_client(make_app(settings)) as http:
        page = await http.get(authorize_url(client.client_id, challenge))
        action = form_action(page.text)
        genuine = form_fields(page.text)["csrf_token"]
        kid, nonce, issued, mac = genuine.split(".")

        # What someone who can write the victim's cookies (but not read our keys) plants,
        # with the same value in the form they make the victim's browser post.
        planted = [
            "x" * 43,
            f"{kid}.{nonce}.{issued}.{'0' * len(mac)}",
            f"{kid}.{nonce}.{int(issued) - 1}.{mac}",
            await new_csrf_token(ForeignKeys(kid)),  # type: ignore[arg-type]
        ]
        for value in planted:
            http.cookies.clear()
            http.cookies.set("oauth_csrf", value)
            response = await http.post(action, data=credentials | {"csrf_token": value})
            assert response.status_code == 403, value
        assert await AuthorizationCode.all().count() == 0

        http.cookies.clear()
        http.cookies.set("oauth_csrf", genuine)
        response = await http.post(action, data=credentials | {"csrf_token": genuine})
        assert response.status_code == 302
    assert await AuthorizationCode.all().count() == 1


async def test_the_form_token_survives_a_key_rotation(settings: Settings) -> None:
    await make_user()
    client = await make_client()
    async with http_client(make_app(settings)) as http:
        _, challenge = pkce_pair()
        page = await http.get(authorize_url(client.client_id, challenge))
        await rotate_keys(settings.access_token_seconds)
        fresh = make_app(settings)
    async with http_client(fresh) as other:
        other.cookies.set("oauth_csrf", form_fields(page.text)["csrf_token"])
        fields = form_fields(page.text) | {"username": "ann@example.com", "password": PASSWORD}
        response = await other.post(form_action(page.text), data=fields)
        assert response.status_code == 302, response.text

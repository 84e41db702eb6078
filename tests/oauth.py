"""Getting real tokens the way clients do: through /oauth/authorize and /oauth/token.

Shared by every test that needs a signed-in user or a client.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from starlette.applications import Starlette

from auth.clients import RegisteredClient, create_client
from server.app import create_app
from server.settings import Settings
from tests.factories import PASSWORD

REDIRECT_URI = "http://localhost:3000/callback"


def make_app(settings: Settings) -> Starlette:
    return create_app(settings, manage_database=False)


def http_client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def make_client(
    scopes: str = "profile orders:read orders:write", *, public: bool = True
) -> RegisteredClient:
    return await create_client("Web shop", scopes, [REDIRECT_URI], public=public)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorize_url(client_id: str, challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "orders:read orders:write",
        "state": "state-123",
    }
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return "/oauth/authorize?" + urlencode(params | extra)


def form_fields(page: str) -> dict[str, str]:
    """The named inputs of the page's form, with their values."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def form_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]*)"', page)
    assert match, page
    return match.group(1).replace("&amp;", "&")


async def sign_in(
    http: httpx.AsyncClient, url: str, email: str = "ann@example.com", password: str = PASSWORD
) -> httpx.Response:
    """Open the login page like a browser, fill it in and send it; the response to the POST."""
    page = await http.get(url)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text)
    fields |= {"username": email, "password": password}
    return await http.post(form_action(page.text), data=fields)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def exchange_code(
    http: httpx.AsyncClient, client_id: str, code: str, verifier: str | None
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
    }
    if verifier is not None:
        data["code_verifier"] = verifier
    return await http.post("/oauth/token", data=data)


async def browser_tokens(
    http: httpx.AsyncClient, client_id: str, email: str = "ann@example.com", **extra: str
) -> dict[str, Any]:
    """The whole authorization-code flow with PKCE; the token response."""
    verifier, challenge = pkce_pair()
    params = redirect_params(
        await sign_in(http, authorize_url(client_id, challenge, **extra), email)
    )
    response = await exchange_code(http, client_id, params["code"], verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(http: httpx.AsyncClient, client_id: str, refresh_token: str) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        },
    )


async def client_credentials(
    http: httpx.AsyncClient, client: RegisteredClient, **extra: str
) -> httpx.Response:
    assert client.client_secret is not None
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **extra},
        auth=(client.client_id, client.client_secret),
    )


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(part: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return data

    header, payload, _ = token.split(".")
    return decode(header), decode(payload)

"""Registering OAuth clients.

A confidential client gets a secret (shown once, stored as its SHA-256 digest) and may
use `client_credentials`; with a redirect URI it may also use `authorization_code` and
`refresh_token`. A public client (a browser or native app) has no secret, needs a
redirect URI, and must use PKCE (S256).

Redirect URIs are matched exactly, with one exception: a public client registered with
an http loopback redirect URI may name any port (RFC 8252 section 7.3, RFC 9700 section
2.1), since a browser or native app on a developer's machine runs wherever a port is free.
They must be https, or http on a loopback address, and carry no fragment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from auth.config import is_loopback_url
from auth.digests import digest, new_secret
from auth.scopes import BadScopes, format_scopes, parse_scopes
from models.oauth import OAuthClient


class ClientError(ValueError):
    """The client can't be registered as asked; the message says why."""


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str | None


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` can't be a redirect URI, or None."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "is not a URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_url(uri):
        return None
    return "must be https (or http on localhost / a loopback address)"


def redirect_uri_matches(registered: str, requested: str, *, public: bool) -> bool:
    """Whether a request's `redirect_uri` is the registered one (see the module's note)."""
    if requested == registered:
        return True
    if not public or not registered.startswith("http://") or not is_loopback_url(registered):
        return False
    try:
        want, got = urlsplit(registered), urlsplit(requested)
        got.port  # noqa: B018 (raises ValueError for a port that is not a number 0-65535)
    except ValueError:
        return False
    return (
        got.scheme == want.scheme
        and got.hostname == want.hostname
        and got.username is None
        and got.password is None
        and (got.path, got.query, got.fragment) == (want.path, want.query, want.fragment)
    )


async def create_client(
    name: str, scopes: str, redirect_uris: list[str], *, public: bool = False
) -> RegisteredClient:
    if not name.strip() or len(name.strip()) > 200:
        raise ClientError("the name must be 1 to 200 characters")
    try:
        parsed = parse_scopes(scopes)
    except BadScopes as error:
        raise ClientError(str(error)) from None
    for uri in redirect_uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise ClientError(f"redirect URI {uri!r} {problem}")
    if public and not redirect_uris:
        raise ClientError("a public client needs a redirect URI")
    grant_types = ["authorization_code", "refresh_token"] if redirect_uris else []
    if not public:
        grant_types.append("client_credentials")
    secret = None if public else new_secret(32)
    # A prefix keeps client ids apart from user ids (all digits) in a token's `sub`.
    client_id = f"c_{new_secret(16)}"
    await OAuthClient.create(
        client_id=client_id,
        secret_hash=digest(secret) if secret else None,
        name=name.strip(),
        scopes=format_scopes(parsed),
        redirect_uris=list(redirect_uris),
        grant_types=grant_types,
    )
    return RegisteredClient(client_id, secret)


async def registered_clients() -> list[dict[str, Any]]:
    """Every registered client as `storefront list-clients` prints it (no secrets)."""
    return [
        {
            "client_id": client.client_id,
            "name": client.name,
            "public": client.secret_hash is None,
            "scopes": client.scopes,
            "redirect_uris": list(client.redirect_uris),
            "grant_types": list(client.grant_types),
            "created_at": client.created_at.isoformat(),
        }
        for client in await OAuthClient.all().order_by("id")
    ]

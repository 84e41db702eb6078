"""Tokens from an external identity provider (OAUTH_ISSUER + OAUTH_JWKS_URL).

The provider is the test's own: a tiny HTTP server on 127.0.0.1 that serves a JWKS and
counts how often it is asked, and RSA keys the test signs whatever claims it needs with.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from auth.accounts import deactivate_user
from auth.errors import IdentityProviderUnavailable, InvalidToken
from auth.jwks import RemoteJwks
from auth.resource import ResourceServer
from models.accounts import User
from server.settings import Settings
from tests.factories import make_user
from tests.oauth import make_app

ISSUER = "https://idp.example.test/"


class IdentityProvider:
    """Serves `GET /jwks` on 127.0.0.1 and signs tokens with its keys."""

    def __init__(self) -> None:
        self.keys = [self.new_key()]
        self.fetches = 0
        self.server: asyncio.Server | None = None

    @staticmethod
    def new_key() -> RSAKey:
        key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, private=True)
        key.ensure_kid()
        return key

    @property
    def jwks_url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/jwks"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self.server is not None
        if self.server.is_serving():
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.fetches += 1
        body = json.dumps({"keys": [key.as_dict(private=False) for key in self.keys]}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    def token(self, key: RSAKey | None = None, **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": "storefront",
            "sub": "idp-user-1",
            "iat": now,
            "exp": now + 300,
        } | claims
        return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key, algorithms=["RS256"])


@pytest.fixture
async def idp() -> AsyncIterator[IdentityProvider]:
    provider = IdentityProvider()
    await provider.start()
    yield provider
    await provider.stop()


def external_settings(settings: Settings, idp: IdentityProvider, **changes: Any) -> Settings:
    return replace(settings, oauth_issuer=ISSUER, oauth_jwks_url=idp.jwks_url, **changes)


@pytest.fixture
def resource(settings: Settings, idp: IdentityProvider) -> ResourceServer:
    server: ResourceServer = make_app(external_settings(settings, idp)).state.auth.resource
    return server


async def test_a_token_from_the_provider_makes_a_user_on_first_use(
    resource: ResourceServer, idp: IdentityProvider
) -> None:
    token = idp.token(email="Eve@Example.com", name="Eve Adams", scope="orders:write profile")
    viewer = await resource.viewer(f"Bearer {token}")
    assert viewer is not None
    assert viewer.subject == "idp-user-1"
    assert viewer.scopes == {"orders:write", "profile"}
    assert not viewer.is_staff

    user = await User.get(id=viewer.user_id)
    assert (user.email, user.name, user.password_hash) == ("eve@example.com", "Eve Adams", None)
    assert user.external_subject == f"{ISSUER}|idp-user-1"

    again = await resource.viewer(f"Bearer {idp.token(name='Renamed')}")
    assert again is not None
    assert again.user_id == user.id
    assert await User.all().count() == 1


async def test_accounts_are_never_linked_by_email(
    resource: ResourceServer, idp: IdentityProvider
) -> None:
    local = await make_user("eve@example.com")
    viewer = await resource.viewer_from_token(idp.token(email="eve@example.com"))
    assert viewer.user_id != local.id
    created = await User.get(id=viewer.user_id)
    assert created.email.endswith("@external.invalid")

    unverified = await resource.viewer_from_token(
        idp.token(sub="idp-user-2", email="new@example.com", email_verified=False)
    )
    assert (await User.get(id=unverified.user_id)).email.endswith("@external.invalid")


async def test_the_staff_claim_grants_staff_rights_and_scopes(
    resource: ResourceServer, idp: IdentityProvider
) -> None:
    scope = "orders:write catalog:write"
    customer = await resource.viewer_from_token(idp.token(scope=scope, roles=["customer"]))
    assert not customer.is_staff
    assert customer.scopes == {"orders:write"}

    staff = await resource.viewer_from_token(idp.token(scope=scope, roles=["staff"]))
    assert staff.is_staff
    assert staff.scopes == {"orders:write", "catalog:write"}
    assert (await User.get(id=staff.user_id)).is_staff


async def test_the_staff_claim_is_a_setting(settings: Settings, idp: IdentityProvider) -> None:
    keycloak_style = external_settings(
        settings, idp, oauth_staff_claim="realm_access.roles:shop-admin"
    )
    resource = make_app(keycloak_style).state.auth.resource
    admin = idp.token(realm_access={"roles": ["shop-admin"]})
    assert (await resource.viewer_from_token(admin)).is_staff
    assert not (await resource.viewer_from_token(idp.token(roles=["staff"]))).is_staff


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "someone-else"}, "aud"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"iss": "https://other-idp.example/"}, "issuer"),
    ],
)
async def test_the_providers_tokens_obey_the_same_rules(
    resource: ResourceServer, idp: IdentityProvider, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        await resource.viewer_from_token(idp.token(**claims))


async def test_a_key_the_provider_does_not_publish_is_refused(
    resource: ResourceServer, idp: IdentityProvider
) -> None:
    forger = IdentityProvider.new_key()
    with pytest.raises(InvalidToken, match="key"):
        await resource.viewer_from_token(idp.token(forger))
    with pytest.raises(InvalidToken, match="algorithm"):
        await resource.viewer_from_token(
            jwt.encode(
                {"alg": "HS256", "kid": "k"},
                {"iss": ISSUER},
                OctKey.import_key("s" * 32),
                algorithms=["HS256"],
            )
        )


async def test_unknown_kids_refetch_the_keys_at_most_once_per_interval(
    idp: IdentityProvider,
) -> None:
    now = [1000.0]
    jwks = RemoteJwks(idp.jwks_url, cache_seconds=3600, refetch_seconds=60, clock=lambda: now[0])
    known = idp.keys[0].kid
    assert known is not None
    assert await jwks.key(known) is not None
    assert idp.fetches == 1

    # A burst of forged kids, many at once: no fetch until the interval has passed.
    forged = await asyncio.gather(*(jwks.key(f"forged-{n}") for n in range(50)))
    assert forged == [None] * 50
    assert idp.fetches == 1

    # The provider rotates; once the interval has passed, its new kid is found.
    rotated = IdentityProvider.new_key()
    idp.keys.append(rotated)
    assert rotated.kid is not None
    assert await jwks.key(rotated.kid) is None
    now[0] += 60
    found = await asyncio.gather(*(jwks.key(rotated.kid) for _ in range(20)))
    assert all(key is not None for key in found)
    assert idp.fetches == 2

    # The cached set expires after cache_seconds and is fetched again, once.
    now[0] += 3600
    assert await jwks.key(known) is not None
    assert idp.fetches == 3


async def test_an_unreachable_provider(idp: IdentityProvider) -> None:
    now = [1000.0]
    url = idp.jwks_url
    jwks = RemoteJwks(url, cache_seconds=10, refetch_seconds=5, clock=lambda: now[0])
    known = idp.keys[0].kid
    assert known is not None
    assert await jwks.key(known) is not None
    await idp.stop()
    now[0] += 60
    # Keys already fetched keep working while the provider is down.
    assert await jwks.key(known) is not None

    cold = RemoteJwks(url, cache_seconds=10, refetch_seconds=5, clock=lambda: now[0])
    with pytest.raises(IdentityProviderUnavailable):
        await cold.key(known)


async def test_a_deactivated_external_user_is_refused(
    settings: Settings, idp: IdentityProvider
) -> None:
    """The provider keeps issuing tokens; the local account decides whether they count."""
    app = make_app(external_settings(settings, idp, account_status_seconds=0))
    resource: ResourceServer = app.state.auth.resource
    token = idp.token(email="eve@example.com", scope="profile")
    assert (await resource.viewer(f"Bearer {token}")) is not None

    await deactivate_user("eve@example.com")
    later = idp.token(email="eve@example.com", scope="profile", iat=int(time.time()) + 1)
    for refused in (token, later):
        with pytest.raises(InvalidToken, match="session has ended"):
            await resource.viewer(f"Bearer {refused}")


class TricklingProvider:
    """A JWKS endpoint that answers one byte at a time, each well within a read timeout."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/jwks"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"keys": []}'
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        try:
            for byte in answer:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(self.pause)
        except ConnectionError:
            pass
        finally:
            writer.close()


async def test_a_provider_that_trickles_its_keys_is_given_up_on_in_time() -> None:
    provider = TricklingProvider(pause=0.2)
    url = await provider.start()
    try:
        jwks = RemoteJwks(url, cache_seconds=3600, refetch_seconds=60, fetch_seconds=1.0)
        started = time.monotonic()
        # The outer deadline only keeps a hanging fetch from hanging the test run.
        async with asyncio.timeout(20):
            with pytest.raises(IdentityProviderUnavailable):
                await jwks.key("any")
            first = time.monotonic() - started
            # The failed fetch counts: the next caller is answered at once, no new fetch.
            with pytest.raises(IdentityProviderUnavailable):
                await jwks.key("any")
        print(f"slow JWKS refused after {first:.2f} s (fetch deadline 1 s)")
        assert provider.connections == 1
    finally:
        await provider.stop()

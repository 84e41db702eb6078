"""The resource server: which bearer tokens become a viewer, and which are refused.

Each refused token is made by hand to break exactly one rule; a token from the real token
endpoint shows the rules are not refusing everything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette

from auth.errors import InvalidToken, MalformedAuthorization
from auth.resource import ResourceServer
from auth.revocation import RevocationList
from models.oauth import RevokedAccessToken
from server.settings import Settings
from tests.factories import make_user
from tests.oauth import client_credentials, http_client, make_app, make_client


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def app(settings: Settings) -> Starlette:
    return make_app(settings)


@pytest.fixture
def resource(app: Starlette) -> ResourceServer:
    server: ResourceServer = app.state.auth.resource
    return server


@pytest.fixture
async def signing_key(resource: ResourceServer) -> ECKey:
    return await resource.keys.signing_key()


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(app) as client:
        yield client


async def claims_for(subject: str = "1") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "http://127.0.0.1:8000",
        "sub": subject,
        "aud": "storefront",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "jti": f"jti-{now}-{subject}",
        "scope": "orders:write",
        "client_id": "c_test",
    }


def sign(key: Any, claims: dict[str, Any], alg: str = "ES256", **header: Any) -> str:
    head = {"alg": alg, "typ": "at+jwt", "kid": key.kid, **header}
    return jwt.encode(head, claims, key, algorithms=[alg])


async def test_a_real_token_and_a_hand_made_one_are_accepted(
    resource: ResourceServer, signing_key: ECKey, http: httpx.AsyncClient
) -> None:
    client = await make_client("catalog:write", public=False)
    token = (await client_credentials(http, client)).json()["access_token"]
    assert (await resource.viewer(f"Bearer {token}")).client_id == client.client_id

    user = await make_user()
    viewer = await resource.viewer(f"bearer {sign(signing_key, await claims_for(str(user.id)))}")
    assert viewer.user_id == user.id
    assert viewer.scopes == {"orders:write"}


async def test_no_header_is_anonymous_and_a_bad_header_is_refused(
    resource: ResourceServer,
) -> None:
    assert await resource.viewer(None) is None
    assert await resource.viewer("") is None
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "token"):
        with pytest.raises(MalformedAuthorization):
            await resource.viewer(header)


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "a.b.c", "e30.e30.", "x" * 10_000, "ü.ü.ü"],
)
async def test_malformed_tokens_are_refused(resource: ResourceServer, token: str) -> None:
    with pytest.raises(InvalidToken):
        await resource.viewer_from_token(token)


async def test_a_bad_signature_is_refused(resource: ResourceServer, signing_key: ECKey) -> None:
    token = sign(signing_key, await claims_for())
    header, payload, signature = token.split(".")
    tampered_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = f"{header}.{b64(tampered_claims | {'scope': 'catalog:write'})}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        await resource.viewer_from_token(tampered)


async def test_alg_none_is_refused(resource: ResourceServer, signing_key: ECKey) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": signing_key.kid}
    token = f"{b64(header)}.{b64(await claims_for())}."
    with pytest.raises(InvalidToken, match="algorithm"):
        await resource.viewer_from_token(token)


async def test_hmac_signed_with_the_public_key_is_refused(
    resource: ResourceServer, signing_key: ECKey, http: httpx.AsyncClient
) -> None:
    """The classic confusion attack: HS256 with the published key as the shared secret."""
    published = (await http.get("/.well-known/jwks.json")).json()["keys"][0]
    header = {"alg": "HS256", "typ": "at+jwt", "kid": published["kid"]}
    signing_input = f"{b64(header)}.{b64(await claims_for())}"
    for secret in (json.dumps(published).encode(), signing_key.as_pem(private=False)):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        with pytest.raises(InvalidToken, match="algorithm"):
            await resource.viewer_from_token(token)


async def test_another_asymmetric_algorithm_is_refused(
    resource: ResourceServer, signing_key: ECKey
) -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": signing_key.kid})
    with pytest.raises(InvalidToken, match="algorithm"):
        await resource.viewer_from_token(sign(rsa, await claims_for(), alg="RS256"))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": -120}, "expired"),
        ({"nbf": 300}, "not yet valid"),
        ({"iat": 300}, "future"),
    ],
)
async def test_times_are_checked(
    resource: ResourceServer, signing_key: ECKey, change: dict[str, int], reason: str
) -> None:
    claims = await claims_for()
    now = int(time.time())
    claims |= {name: now + delta for name, delta in change.items()}
    with pytest.raises(InvalidToken, match=reason):
        await resource.viewer_from_token(sign(signing_key, claims))


async def test_small_clock_skew_is_tolerated(resource: ResourceServer, signing_key: ECKey) -> None:
    user = await make_user()
    claims = await claims_for(str(user.id))
    claims |= {"nbf": int(time.time()) + 5, "exp": int(time.time()) - 5}
    assert (await resource.viewer_from_token(sign(signing_key, claims))).user_id == user.id


async def test_wrong_audience_is_refused(resource: ResourceServer, signing_key: ECKey) -> None:
    for audience in ("another-api", ["another-api", "more"]):
        claims = await claims_for() | {"aud": audience}
        with pytest.raises(InvalidToken, match="aud"):
            await resource.viewer_from_token(sign(signing_key, claims))


async def test_wrong_or_missing_issuer_is_refused(
    resource: ResourceServer, signing_key: ECKey
) -> None:
    claims = await claims_for()
    with pytest.raises(InvalidToken, match="issuer"):
        await resource.viewer_from_token(
            sign(signing_key, claims | {"iss": "https://evil.example"})
        )
    del claims["iss"]
    with pytest.raises(InvalidToken, match="issuer"):
        await resource.viewer_from_token(sign(signing_key, claims))


async def test_missing_claims_are_refused(resource: ResourceServer, signing_key: ECKey) -> None:
    for claim in ("sub", "exp", "jti", "client_id"):
        claims = await claims_for()
        del claims[claim]
        with pytest.raises(InvalidToken, match=claim):
            await resource.viewer_from_token(sign(signing_key, claims))


async def test_an_unknown_key_is_refused(resource: ResourceServer) -> None:
    stranger = ECKey.generate_key("P-256", private=True)
    stranger.ensure_kid()
    with pytest.raises(InvalidToken, match="key"):
        await resource.viewer_from_token(sign(stranger, await claims_for()))
    own_kid = (await resource.keys.signing_key()).kid
    impostor = ECKey.generate_key("P-256", parameters={"kid": own_kid}, private=True)
    with pytest.raises(InvalidToken, match="signature"):
        await resource.viewer_from_token(sign(impostor, await claims_for()))


async def test_a_token_that_is_not_an_access_token_is_refused(
    resource: ResourceServer, signing_key: ECKey
) -> None:
    with pytest.raises(InvalidToken, match="not an access token"):
        await resource.viewer_from_token(sign(signing_key, await claims_for(), typ="JWT"))


async def test_a_revoked_token_is_refused(resource: ResourceServer, signing_key: ECKey) -> None:
    user = await make_user()
    claims = await claims_for(str(user.id))
    token = sign(signing_key, claims)
    assert await resource.viewer_from_token(token)
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    await RevokedAccessToken.create(jti=claims["jti"], expires_at=expires_at)
    await resource.revocations.reload()
    with pytest.raises(InvalidToken, match="revoked"):
        await resource.viewer_from_token(token)


async def test_other_instances_see_a_revocation_within_the_refresh_interval(
    app: Starlette, signing_key: ECKey
) -> None:
    """Each instance reloads the revocation list when it is older than its interval."""
    now = [0.0]
    revocations = RevocationList(refresh_seconds=2, clock=lambda: now[0])
    claims = await claims_for()
    assert not await revocations.is_revoked(claims["jti"])
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    await RevokedAccessToken.create(jti=claims["jti"], expires_at=expires_at)
    now[0] += 1
    assert not await revocations.is_revoked(claims["jti"])
    now[0] += 1
    assert await revocations.is_revoked(claims["jti"])


async def test_tokens_of_the_built_in_server_are_refused_when_it_is_off(
    settings: Settings, signing_key: ECKey
) -> None:
    off = replace(
        settings,
        oauth_server=False,
        oauth_issuer="https://idp.example",
        oauth_jwks_url="http://127.0.0.1:9/jwks",
    )
    app = make_app(off)
    with pytest.raises(InvalidToken, match="issuer"):
        await app.state.auth.resource.viewer_from_token(sign(signing_key, await claims_for()))
    async with http_client(app) as http:
        assert (await http.post("/oauth/token")).status_code == 404

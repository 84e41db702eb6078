"""Access tokens: RFC 9068 JWTs we sign, and the checks every token must pass.

Our tokens carry `iss sub aud exp iat nbf jti scope client_id` and a `kid` header, typed
`at+jwt`. `sub` is the user's id, or the client's id for a `client_credentials` token (so
`sub == client_id` means "the client acting as itself"). Staff users' tokens also carry
`roles: ["staff"]`, the claim an external identity provider would use by default.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key
from joserfc.jwt import JWTClaimsRegistry

from auth.config import LEEWAY_SECONDS
from auth.digests import new_secret
from auth.errors import InvalidToken
from auth.keys import ALGORITHM

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a media type, not a secret)
STAFF_ROLE = "staff"
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class SignedToken:
    token: str
    jti: str
    expires_at: int


def sign_access_token(
    key: ECKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    lifetime: int,
    is_staff: bool = False,
) -> SignedToken:
    now = int(time.time())
    jti = new_secret(16)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + lifetime,
        "iat": now,
        "nbf": now,
        "jti": jti,
        "scope": scope,
        "client_id": client_id,
    }
    if is_staff:
        claims["roles"] = [STAFF_ROLE]
    header = {"alg": ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}
    return SignedToken(jwt.encode(header, claims, key, algorithms=[ALGORITHM]), jti, now + lifetime)


@dataclass(frozen=True)
class UnverifiedToken:
    """A token's header and claims, parsed but not yet trusted: only for choosing a key."""

    header: dict[str, Any]
    claims: dict[str, Any]


def peek(token: str) -> UnverifiedToken:
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("the token is too long")
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload or b"")
    except (JoseError, UnicodeError, ValueError):
        raise InvalidToken("the token is malformed") from None
    if not isinstance(claims, dict):
        raise InvalidToken("the token is malformed")
    return UnverifiedToken(dict(compact.headers()), claims)


def require_algorithm(header: dict[str, Any], algorithms: Collection[str]) -> str:
    """The header's `alg`, when it is one we accept (never `none`, never HMAC)."""
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise InvalidToken("the token's algorithm is not accepted")
    return algorithm


def verify(
    token: str,
    unverified: UnverifiedToken,
    key: Key,
    *,
    algorithms: Collection[str],
    issuer: str,
    audience: str,
    essential: Collection[str] = ("sub",),
) -> dict[str, Any]:
    """The token's claims, once its signature, algorithm, issuer, audience and times hold."""
    algorithm = require_algorithm(unverified.header, algorithms)
    if key.alg not in (None, algorithm):
        raise InvalidToken("the token's algorithm does not match its key")
    try:
        claims = jwt.decode(token, key, algorithms=[algorithm]).claims
    except JoseError:
        raise InvalidToken("the token's signature is invalid") from None
    options: dict[str, Any] = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
        "exp": {"essential": True},
        **{name: {"essential": True} for name in essential},
    }
    try:
        JWTClaimsRegistry(leeway=LEEWAY_SECONDS, **options).validate(claims)
    except JoseError as error:
        raise InvalidToken(_claim_problem(error)) from None
    return claims


def _claim_problem(error: JoseError) -> str:
    text = str(error.description or error.error)
    if "expired" in text.lower():
        return (
            "the token has expired; get a new one: a client uses its refresh token at the "
            "token endpoint (or signs in again), a local token comes from "
            "`storefront issue-token` again"
        )
    return f"the token was refused: {text}"

"""The resource server: one place that turns a bearer token into a `Viewer`.

A token is accepted when it comes from our own authorization server (signed with one of
our published keys, `typ: at+jwt`, not revoked) or, when configured, from the external
identity provider (signed with a key from its JWKS). Either way: the algorithm must be
one we accept for that issuer (asymmetric only: never `none`, never HMAC, so a public key
can't be used as an HMAC secret), the `kid` must name a known key, and `iss`, `aud`,
`exp`, `nbf` and `iat` must hold (with `LEEWAY_SECONDS` of clock skew).

Our tokens are checked against the revocation list (`auth.revocation`: in memory,
reloaded every couple of seconds); the external provider's tokens can't be revoked
here, only expire. A token that passed every check is remembered (up to
`_VERIFIED_CACHE_SIZE` of them, until they expire or for `_VERIFIED_SECONDS` at most), so
a client presenting the same token again costs a dictionary lookup, not a signature
verification. Staff rights come from
the token (`roles` for ours, the configured claim for external ones).

Every token of a user then passes `check_account`: the account must still be active, the
token issued after the user's sessions were last ended, and staff scopes need the user to
be staff still. It reads the account through `auth.account_status` (cached for a few
seconds per instance), so these changes reach tokens already issued within that time.

An external token's subject maps to a local user, created on first use with the token's
`email` (when present, not marked unverified, and not already taken: accounts are never
linked by e-mail) and `name`. The mapping is cached in process; it never changes once made.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from tortoise.exceptions import IntegrityError

from auth.account_status import AccountStatus
from auth.config import LEEWAY_SECONDS, AuthConfig, ExternalIssuer
from auth.errors import InvalidToken, MalformedAuthorization
from auth.jwks import RemoteJwks
from auth.keys import ALGORITHM, KeyStore
from auth.revocation import RevocationList
from auth.scopes import SCOPES, allowed_for
from auth.tokens import (
    ACCESS_TOKEN_TYPE,
    STAFF_ROLE,
    UnverifiedToken,
    peek,
    require_algorithm,
    verify,
)
from models.accounts import User

EXTERNAL_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_USER_CACHE_SIZE = 10_000
_VERIFIED_CACHE_SIZE = 10_000
_VERIFIED_SECONDS = 300


@dataclass(frozen=True)
class _Verified:
    viewer: Viewer
    local: bool  # ours: check revocation on every use
    valid_until: float


@dataclass(frozen=True)
class Viewer:
    """Who is calling, as far as a validated token says."""

    user_id: int | None  # None for a client acting as itself (client_credentials)
    client_id: str | None
    is_staff: bool
    scopes: frozenset[str]
    token_id: str | None
    subject: str
    # The token's `iat`; None when it has none (external tokens may omit it).
    issued_at: int | None = None

    @property
    def is_client(self) -> bool:
        return self.user_id is None

    @property
    def acts_as_staff(self) -> bool:
        """Staff, or a client acting as itself: an operator gave it exactly its scopes, so
        a staff scope it holds is meant to be used."""
        return self.is_staff or self.is_client

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def bearer_token(authorization: str | None) -> str | None:
    """The token in an `Authorization: Bearer ...` value; None when there is no header."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise MalformedAuthorization("the Authorization header must be `Bearer <token>`")
    return token.strip()


def _claim_contains(claims: dict[str, Any], path: str, expected: str) -> bool:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    if isinstance(value, str):
        return value == expected or expected in value.split()
    return isinstance(value, list) and expected in value


def _external_scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    words = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
    return [word for word in words if isinstance(word, str) and word in SCOPES]


class ResourceServer:
    def __init__(
        self, config: AuthConfig, keys: KeyStore, remote: RemoteJwks | None = None
    ) -> None:
        self.config = config
        self.keys = keys
        self.remote = remote
        self.revocations = RevocationList()
        self.accounts = AccountStatus(config.account_status_seconds)
        self._external_users: OrderedDict[str, tuple[int, bool]] = OrderedDict()
        self._verified: OrderedDict[str, _Verified] = OrderedDict()

    async def viewer(self, authorization: str | None) -> Viewer | None:
        """The viewer an Authorization header value proves; None without a header."""
        token = bearer_token(authorization)
        return None if token is None else await self.viewer_from_token(token)

    async def viewer_from_token(self, token: str) -> Viewer:
        verified = self._verified.get(token)
        if verified is None or verified.valid_until <= time.time():
            verified = await self._verify(token)
            self._remember(token, verified)
        if verified.local and await self.revocations.is_revoked(str(verified.viewer.token_id)):
            raise InvalidToken("the token has been revoked")
        return await self.check_account(verified.viewer)

    async def check_account(self, viewer: Viewer) -> Viewer:
        """The viewer as the user's account allows now: InvalidToken when the account is
        gone or deactivated or the token predates the end of the user's sessions; without
        staff scopes when the user is no longer staff. Every path that accepts a token
        (HTTP requests, long-lived connections re-checking) goes through here."""
        if viewer.user_id is None:
            return viewer
        state = await self.accounts.state(viewer.user_id)
        if state is None or not state.accepts(viewer.issued_at):
            raise InvalidToken("the token's session has ended")
        if viewer.is_staff and not state.is_staff:
            scopes = allowed_for(viewer.scopes, is_staff=False)
            return replace(viewer, is_staff=False, scopes=frozenset(scopes))
        return viewer

    async def local_claims(self, token: str) -> dict[str, Any]:
        """The claims of one of our own access tokens, fully checked except revocation."""
        return await self._local_claims(token, peek(token))

    async def _verify(self, token: str) -> _Verified:
        unverified = peek(token)
        issuer = unverified.claims.get("iss")
        if self.config.server_enabled and issuer == self.config.issuer:
            claims = await self._local_claims(token, unverified)
            viewer = _local_viewer(claims)
            return _Verified(viewer, True, _valid_until(claims))
        external = self.config.external
        if external is not None and self.remote is not None and issuer == external.issuer:
            claims = await self._external_claims(token, unverified, external, self.remote)
            viewer = await self._external_viewer(claims, external)
            return _Verified(viewer, False, _valid_until(claims))
        # Naming both makes the usual local mistake plain: a token made for another
        # address (`storefront issue-token` without --issuer, for a server on another port).
        trusted = [self.config.issuer] if self.config.server_enabled else []
        trusted += [external.issuer] if external is not None else []
        raise InvalidToken(
            f"the token's issuer is not trusted: it names {str(issuer)[:100]!r}, "
            f"this server trusts {' and '.join(map(repr, trusted))}"
        )

    def _remember(self, token: str, verified: _Verified) -> None:
        self._verified[token] = verified
        self._verified.move_to_end(token)
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    async def _local_claims(self, token: str, unverified: UnverifiedToken) -> dict[str, Any]:
        header = unverified.header
        require_algorithm(header, {ALGORITHM})
        if str(header.get("typ", "")).lower() not in {ACCESS_TOKEN_TYPE, "application/at+jwt"}:
            raise InvalidToken("the token is not an access token")
        key = await self.keys.verification_key(_kid(header))
        if key is None:
            raise InvalidToken("the token's key is unknown")
        return verify(
            token,
            unverified,
            key,
            algorithms={ALGORITHM},
            issuer=self.config.issuer,
            audience=self.config.audience,
            essential=("sub", "jti", "client_id", "iat"),
        )

    async def _external_claims(
        self,
        token: str,
        unverified: UnverifiedToken,
        external: ExternalIssuer,
        remote: RemoteJwks,
    ) -> dict[str, Any]:
        require_algorithm(unverified.header, EXTERNAL_ALGORITHMS)
        key = await remote.key(_kid(unverified.header))
        if key is None:
            raise InvalidToken("the token's key is unknown")
        claims = verify(
            token,
            unverified,
            key,
            algorithms=EXTERNAL_ALGORITHMS,
            issuer=external.issuer,
            audience=self.config.audience,
        )
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise InvalidToken("the token has no subject")
        return claims

    async def _external_viewer(self, claims: dict[str, Any], external: ExternalIssuer) -> Viewer:
        subject = str(claims["sub"])
        is_staff = _claim_contains(claims, external.staff_claim, external.staff_value)
        user_id = await self._external_user(external.issuer, subject, claims, is_staff)
        client_id = claims.get("client_id", claims.get("azp"))
        token_id = claims.get("jti")
        return Viewer(
            user_id=user_id,
            client_id=client_id if isinstance(client_id, str) else None,
            is_staff=is_staff,
            scopes=frozenset(allowed_for(_external_scopes(claims), is_staff=is_staff)),
            token_id=token_id if isinstance(token_id, str) else None,
            subject=subject,
            issued_at=_issued_at(claims),
        )

    async def _external_user(
        self, issuer: str, subject: str, claims: dict[str, Any], is_staff: bool
    ) -> int:
        external_subject = f"{issuer}|{subject}"
        cached = self._external_users.get(external_subject)
        if cached is not None and cached[1] == is_staff:
            self._external_users.move_to_end(external_subject)
            return cached[0]
        user = await User.get_or_none(external_subject=external_subject)
        if user is None:
            user = await _create_external_user(external_subject, claims, is_staff)
        if user.is_staff != is_staff:
            # The provider decides who is staff; the account's cached state follows it.
            await User.filter(id=user.id).update(is_staff=is_staff)
            self.accounts.forget(user.id)
        self._external_users[external_subject] = (user.id, is_staff)
        if len(self._external_users) > _USER_CACHE_SIZE:
            self._external_users.popitem(last=False)
        return user.id


def _local_viewer(claims: dict[str, Any]) -> Viewer:
    subject, client_id = str(claims["sub"]), str(claims["client_id"])
    user_id = None if subject == client_id else _user_id(subject)
    roles = claims.get("roles")
    return Viewer(
        user_id=user_id,
        client_id=client_id,
        is_staff=user_id is not None and isinstance(roles, list) and STAFF_ROLE in roles,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        token_id=str(claims["jti"]),
        subject=subject,
        issued_at=_issued_at(claims),
    )


def _issued_at(claims: dict[str, Any]) -> int | None:
    iat = claims.get("iat")
    return int(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None


def _valid_until(claims: dict[str, Any]) -> float:
    return min(float(claims["exp"]) + LEEWAY_SECONDS, time.time() + _VERIFIED_SECONDS)


def _kid(header: dict[str, Any]) -> str:
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token names no key (kid)")
    return kid


def _user_id(subject: str) -> int:
    if not subject.isdigit():
        raise InvalidToken("the token's subject is not a user")
    return int(subject)


def _claimed_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        return None
    if claims.get("email_verified") is False:
        return None
    return email.strip().lower()


def _claimed_name(claims: dict[str, Any]) -> str:
    for claim in ("name", "preferred_username", "email"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return "External user"


async def _create_external_user(
    external_subject: str, claims: dict[str, Any], is_staff: bool
) -> User:
    # An address under the reserved `.invalid` domain when the token has none we can use.
    placeholder = f"{hashlib.sha256(external_subject.encode()).hexdigest()[:32]}@external.invalid"
    email = _claimed_email(claims)
    if email is not None and await User.exists(email=email):
        email = None
    name = _claimed_name(claims)
    try:
        return await User.create(
            email=email or placeholder,
            name=name,
            is_staff=is_staff,
            external_subject=external_subject,
        )
    except IntegrityError:
        # Another request created this user first, or took the e-mail meanwhile.
        existing = await User.get_or_none(external_subject=external_subject)
        if existing is not None:
            return existing
        return await User.create(
            email=placeholder, name=name, is_staff=is_staff, external_subject=external_subject
        )

"""In-memory records of clients, users, codes and tokens: what authlib reads during one
request, loaded before it runs (see auth/server.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin
from joserfc.jwk import ECKey

from auth.clients import redirect_uri_matches
from auth.digests import matches
from auth.scopes import format_scopes
from models.accounts import User
from models.oauth import OAuthClient

CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post"]
ANY_CLIENT_AUTH = [*CONFIDENTIAL_AUTH, "none"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class UserRecord:
    id: int
    is_staff: bool
    is_active: bool = True

    @classmethod
    def of(cls, row: User) -> UserRecord:
        return cls(row.id, row.is_staff, row.is_active)


@dataclass(frozen=True)
class ClientRecord(ClientMixin):
    pk: int
    client_id: str
    secret_hash: str | None
    name: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]

    @classmethod
    def of(cls, row: OAuthClient) -> ClientRecord:
        return cls(
            pk=row.id,
            client_id=row.client_id,
            secret_hash=row.secret_hash,
            name=row.name,
            scopes=tuple(row.scopes.split()),
            redirect_uris=tuple(row.redirect_uris),
            grant_types=tuple(row.grant_types),
        )

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous default: with several, the request must name one.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        requested = (scope or "").split()
        if not requested:
            return format_scopes(self.scopes)
        if not set(requested) <= set(self.scopes):
            return None
        return format_scopes(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(
            redirect_uri_matches(registered, redirect_uri, public=self.is_public)
            for registered in self.redirect_uris
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and matches(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none" if self.is_public else method in CONFIDENTIAL_AUTH

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass(frozen=True)
class CodeRecord(AuthorizationCodeMixin):
    pk: int
    code_hash: str
    client_id: str
    user: UserRecord
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    used: bool
    family_id: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class RefreshRecord(TokenMixin):
    pk: int
    token_hash: str
    family_id: str
    client_id: str
    user: UserRecord
    scope: str
    expires_at: datetime
    created_at: datetime
    used: bool
    revoked: bool

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utc_now()).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= utc_now()

    def is_revoked(self) -> bool:
        return self.used or self.revoked

    def introspection(self, issuer: str) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "scope": self.scope,
            "sub": str(self.user.id),
            "iss": issuer,
            "exp": int(self.expires_at.timestamp()),
            "iat": int(self.created_at.timestamp()),
        }


@dataclass(frozen=True)
class AccessRecord(TokenMixin):
    """One of our access tokens, its signature and claims already verified."""

    claims: dict[str, Any]
    revoked: bool

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(int(self.claims["exp"]), UTC)

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.claims.get("client_id"))

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"]) - int(utc_now().timestamp()))

    def is_expired(self) -> bool:
        return self.get_expires_in() <= 0

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self, issuer: str) -> dict[str, Any]:
        names = ("client_id", "scope", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
        return {"token_type": "Bearer"} | {n: self.claims[n] for n in names if n in self.claims}


@dataclass
class Loaded:
    """Everything authlib may ask about during one request, read beforehand."""

    signing_key: ECKey | None = None
    clients: dict[str, ClientRecord] = field(default_factory=dict)
    code: CodeRecord | None = None
    refresh_token: RefreshRecord | None = None
    access_token: AccessRecord | None = None

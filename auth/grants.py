"""Authlib's grants and endpoints for one request: they answer from the loaded records
and queue writes instead of making them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import uuid4

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError, TokenMixin
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from auth.config import AUTHORIZATION_CODE_SECONDS, AuthConfig
from auth.digests import digest, matches, new_secret
from auth.messages import Reply
from auth.records import (
    ANY_CLIENT_AUTH,
    CONFIDENTIAL_AUTH,
    AccessRecord,
    ClientRecord,
    CodeRecord,
    Loaded,
    RefreshRecord,
    UserRecord,
    utc_now,
)
from auth.scopes import Scope, allowed_for, format_scopes
from auth.tokens import SignedToken, sign_access_token
from auth.writing import (
    Write,
    mark_code_used,
    mark_refresh_token_used,
    revoke_access_token,
    revoke_family,
)
from models.oauth import AuthorizationCode, RefreshToken


class _S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; public clients must use it."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        if grant.request.client.is_public and not challenge:
            raise InvalidRequestError("Public clients must send a 'code_challenge' (PKCE).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class _AuthorizationCodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    server: RequestServer

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: UserRecord = request.user
        scopes = allowed_for((request.scope or "").split(), is_staff=user.is_staff)
        if not scopes:
            raise InvalidScopeError(
                "None of the requested scopes can be granted to this user.",
                redirect_uri=self.redirect_uri,
            )
        data = request.payload.data
        self.server.writes.append(
            partial(
                AuthorizationCode.create,
                code_hash=digest(code),
                client_id=request.client.pk,
                user_id=user.id,
                # Exactly as sent (empty when omitted): the token request must repeat it.
                redirect_uri=request.payload.redirect_uri or "",
                scope=format_scopes(scopes),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=utc_now() + timedelta(seconds=AUTHORIZATION_CODE_SECONDS),
            )
        )

    def query_authorization_code(self, code: str, client: ClientRecord) -> CodeRecord | None:
        record = self.server.loaded.code
        if record is None or not matches(code, record.code_hash):
            return None
        if record.client_id != client.client_id or record.used or record.expires_at <= utc_now():
            return None
        return record if record.user.is_active else None

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        self.server.writes.append(
            partial(mark_code_used, authorization_code.pk, self.server.family_id)
        )

    def authenticate_user(self, authorization_code: CodeRecord) -> UserRecord:
        return authorization_code.user


class _RefreshTokenGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: RequestServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        record = self.server.loaded.refresh_token
        if record is None or not matches(refresh_token, record.token_hash):
            return None
        if record.is_revoked() or record.is_expired() or not record.user.is_active:
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshRecord) -> UserRecord:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        self.server.writes.append(
            partial(mark_refresh_token_used, refresh_token.pk, refresh_token.family_id)
        )


class _ClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.request.client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError("The client may not ask for these scopes.")


class _LoadedTokenLookup:
    server: RequestServer

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> AccessRecord | RefreshRecord | None:
        loaded = self.server.loaded
        return loaded.access_token or loaded.refresh_token


class _RevocationEndpoint(_LoadedTokenLookup, RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_AUTH

    def revoke_token(self, token: AccessRecord | RefreshRecord, request: Any) -> None:
        if isinstance(token, AccessRecord):
            self.server.writes.append(partial(revoke_access_token, token.jti, token.expires_at))
        else:
            self.server.writes.append(partial(revoke_family, token.family_id))


class _IntrospectionEndpoint(_LoadedTokenLookup, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def check_permission(self, token: TokenMixin, client: ClientRecord, request: Any) -> bool:
        # A client may introspect the tokens issued to it, nobody else's.
        return bool(token.check_client(client))

    def introspect_token(self, token: AccessRecord | RefreshRecord) -> dict[str, Any]:
        return token.introspection(self.server.config.issuer)


class RequestServer(AuthorizationServer):
    """Authlib's server for one request, answering from `loaded` and queueing `writes`."""

    def __init__(self, config: AuthConfig, loaded: Loaded) -> None:
        super().__init__(scopes_supported=list(Scope))
        self.config = config
        self.loaded = loaded
        self.writes: list[Write] = []
        # The refresh-token family a code exchange starts.
        self.family_id = str(uuid4())
        self.issued: SignedToken | None = None
        self.register_token_generator("default", self._generate_token)
        self.register_grant(_AuthorizationCodeGrant, [_S256CodeChallenge(required=True)])
        self.register_grant(_RefreshTokenGrant)
        self.register_grant(_ClientCredentialsGrant)
        self.register_endpoint(_RevocationEndpoint)
        self.register_endpoint(_IntrospectionEndpoint)

    def query_client(self, client_id: str) -> ClientRecord | None:
        return self.loaded.clients.get(client_id)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)
        return request

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return Reply(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signals: nothing listens."""

    def _generate_token(
        self,
        grant_type: str,
        client: ClientRecord,
        user: UserRecord | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if user is None:
            granted = client.get_allowed_scope(scope) or ""
            subject = client.client_id
        else:
            # Who the user is now decides, also when refreshing an older grant.
            granted = format_scopes(allowed_for((scope or "").split(), is_staff=user.is_staff))
            subject = str(user.id)
        if not granted:
            raise InvalidScopeError("None of the requested scopes can be granted.")
        assert self.loaded.signing_key is not None
        lifetime = self.config.access_token_seconds
        self.issued = sign_access_token(
            self.loaded.signing_key,
            issuer=self.config.issuer,
            audience=self.config.audience,
            subject=subject,
            client_id=client.client_id,
            scope=granted,
            lifetime=lifetime,
            is_staff=user is not None and user.is_staff,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.issued.token,
            "expires_in": lifetime,
            "scope": granted,
        }
        if include_refresh_token:
            token["refresh_token"] = new_secret(32)
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        if "refresh_token" not in token or self.issued is None:
            return
        previous: RefreshRecord | None = request.refresh_token
        issued = self.issued
        self.writes.append(
            partial(
                RefreshToken.create,
                token_hash=digest(token["refresh_token"]),
                family_id=previous.family_id if previous else self.family_id,
                client_id=request.client.pk,
                user_id=request.user.id,
                scope=token["scope"],
                access_jti=issued.jti,
                access_expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
                expires_at=utc_now() + timedelta(seconds=self.config.refresh_token_seconds),
            )
        )

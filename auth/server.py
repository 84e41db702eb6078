"""The OAuth2 authorization server: authlib's grants over our models, off the event loop.

Authlib's server classes are synchronous: they call `query_client`,
`query_authorization_code`, `save_token`... and expect answers at once. They never
touch the database here. Each request goes through three steps:

1. Load (async, auth/loading.py). Before authlib runs, everything the request can touch
   is read into records (auth/records.py): the client it names, the code or refresh token
   it presents (looked up by digest, with its user), the access token it presents
   (verified, with its revocation), the signing key.
2. Decide (sync, auth/grants.py). A `RequestServer` made for this one request (so
   concurrent requests share no state) runs authlib's validation against those in-memory
   records. Where authlib asks to save or delete something, a write is appended to a list
   instead.
3. Write (async, auth/writing.py). The writes run in one transaction, each conditional
   on the row still being unused (`UPDATE ... WHERE used_at IS NULL`). When two requests
   race with one code or refresh token only one wins; the loser's answer becomes
   `invalid_grant` and the family is revoked, as for any replay.

Running authlib in a worker thread that calls back into the loop
(`run_coroutine_threadsafe`) would also work, but costs a thread hop per request and one
per query and holds a thread while queries wait; this way a `client_credentials` token
costs one indexed query and one ES256 signature.

Refresh tokens rotate: each use returns a new one and marks the old one used. A used or
revoked refresh token presented again revokes its whole family (every refresh token
issued from the same code and the access tokens issued with them): either the client or
a thief holds a copy, and we can't tell which. A code presented twice likewise revokes the
family it was exchanged for.

Transport: our own check runs first (https, or plain http when `AuthConfig.allow_http`:
a loopback issuer or DEBUG); authlib's own check, which reads the
AUTHLIB_INSECURE_TRANSPORT environment variable, is then shown an https URI, so no
environment variable is ever needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidGrantError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from tortoise.transactions import in_transaction

from auth.accounts import AccountError, authenticate, normalize_email
from auth.config import AuthConfig
from auth.errors import InvalidToken
from auth.grants import RequestServer
from auth.keys import KeyStore
from auth.loading import load_clients, load_code, load_refresh_token
from auth.messages import (
    HttpRequest,
    OAuthRequest,
    Reply,
    error_reply,
    first_values,
    repeated_parameter,
)
from auth.records import (
    ANY_CLIENT_AUTH,
    CONFIDENTIAL_AUTH,
    AccessRecord,
    ClientRecord,
    Loaded,
    UserRecord,
)
from auth.resource import ResourceServer
from auth.scopes import BadScopes, Scope, allowed_for, format_scopes, parse_scopes
from auth.tokens import sign_access_token
from auth.writing import Replay, purge_expired, revoke_family
from models.accounts import User
from models.oauth import RevokedAccessToken

# The `client_id` of tokens made on the command line (`storefront issue-token`).
CLI_CLIENT_ID = "storefront-cli"


@dataclass(frozen=True)
class Prompt:
    """A valid authorization request, waiting for the user to sign in."""

    client_name: str
    scopes: tuple[str, ...]
    redirect_uri: str


class AuthorizationService:
    """The endpoints of the authorization server, framework-neutral."""

    def __init__(self, config: AuthConfig, keys: KeyStore, resource: ResourceServer) -> None:
        self.config = config
        self.keys = keys
        self.resource = resource

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        issuer = self.config.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
            "introspection_endpoint": f"{issuer}/oauth/introspect",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "scopes_supported": list(Scope),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ANY_CLIENT_AUTH,
            "revocation_endpoint_auth_methods_supported": ANY_CLIENT_AUTH,
            "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH,
            "code_challenge_methods_supported": ["S256"],
        }

    async def issue_token_for_user(
        self, email: str, scopes: str, *, lifetime: int | None = None
    ) -> str:
        """An access token for a user, made without any client (`storefront issue-token`);
        `lifetime` in seconds, the configured access-token lifetime by default."""
        user = await User.get_or_none(email=normalize_email(email))
        if user is None:
            raise AccountError(f"no user with the e-mail {normalize_email(email)}")
        if not user.is_active:
            raise AccountError(f"{user.email} is deactivated")
        try:
            requested = parse_scopes(scopes)
        except BadScopes as error:
            raise AccountError(str(error)) from None
        refused = [
            scope
            for scope in requested
            if scope not in allowed_for(requested, is_staff=user.is_staff)
        ]
        if refused:
            raise AccountError(f"{user.email} is not staff and can't have {', '.join(refused)}")
        return sign_access_token(
            await self.keys.signing_key(),
            issuer=self.config.issuer,
            audience=self.config.audience,
            subject=str(user.id),
            client_id=CLI_CLIENT_ID,
            scope=format_scopes(requested),
            lifetime=lifetime or self.config.access_token_seconds,
            is_staff=user.is_staff,
        ).token

    async def token(self, request: HttpRequest) -> Reply:
        """`POST /oauth/token`."""
        if refused := self._refuse_insecure(request) or repeated_parameter(request.form):
            return refused
        form = first_values(request.form)
        loaded = Loaded(signing_key=await self.keys.signing_key())
        await load_clients(loaded, request.headers, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code" and form.get("code"):
            loaded.code = await load_code(form["code"])
            if loaded.code is not None and loaded.code.used:
                await self._revoke_family(loaded.code.family_id)
        elif grant_type == "refresh_token" and form.get("refresh_token"):
            loaded.refresh_token = await load_refresh_token(form["refresh_token"])
            if loaded.refresh_token is not None and loaded.refresh_token.used:
                await self._revoke_family(loaded.refresh_token.family_id)
        server = RequestServer(self.config, loaded)
        reply = server.create_token_response(OAuthRequest(request, request.form))
        return await self._commit(server, reply)

    async def revoke(self, request: HttpRequest) -> Reply:
        """`POST /oauth/revoke` (RFC 7009)."""
        reply = await self._token_endpoint(request, RevocationEndpoint.ENDPOINT_NAME)
        await self.resource.revocations.reload()
        return reply

    async def introspect(self, request: HttpRequest) -> Reply:
        """`POST /oauth/introspect` (RFC 7662)."""
        return await self._token_endpoint(request, IntrospectionEndpoint.ENDPOINT_NAME)

    async def prompt(self, request: HttpRequest) -> Prompt | Reply:
        """`GET /oauth/authorize`: what to show on the login page, or the error reply."""
        _, grant = await self._consent(request)
        if isinstance(grant, Reply):
            return grant
        client: ClientRecord = grant.request.client
        return Prompt(client.name, tuple(grant.request.scope.split()), grant.redirect_uri)

    async def authorize(self, request: HttpRequest, email: str, password: str) -> Reply | None:
        """`POST /oauth/authorize`: the redirect back to the client, or None when the
        e-mail and password don't match."""
        server, grant = await self._consent(request)
        if isinstance(grant, Reply):
            return grant
        user = await authenticate(email, password)
        if user is None:
            return None
        reply = server.create_authorization_response(
            request=grant.request, grant_user=UserRecord.of(user), grant=grant
        )
        reply = await self._commit(server, reply)
        await purge_expired()
        return reply

    async def _consent(self, request: HttpRequest) -> tuple[RequestServer, Any]:
        if refused := self._refuse_insecure(request):
            return RequestServer(self.config, Loaded()), refused
        loaded = Loaded()
        await load_clients(loaded, {}, first_values(request.query))
        server = RequestServer(self.config, loaded)
        oauth_request = OAuthRequest(request, request.query)
        try:
            return server, server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return server, server.handle_error_response(oauth_request, error)

    async def _token_endpoint(self, request: HttpRequest, name: str) -> Reply:
        if refused := self._refuse_insecure(request) or repeated_parameter(request.form):
            return refused
        form = first_values(request.form)
        loaded = Loaded()
        await load_clients(loaded, request.headers, form)
        await self._load_presented_token(loaded, form.get("token", ""))
        server = RequestServer(self.config, loaded)
        reply = server.create_endpoint_response(name, OAuthRequest(request, request.form))
        return await self._commit(server, reply)

    async def _load_presented_token(self, loaded: Loaded, token: str) -> None:
        if token.count(".") == 2:
            try:
                claims = await self.resource.local_claims(token)
            except InvalidToken:
                return
            revoked = await RevokedAccessToken.exists(jti=claims["jti"])
            loaded.access_token = AccessRecord(claims, revoked)
        elif token:
            loaded.refresh_token = await load_refresh_token(token)

    async def _commit(self, server: RequestServer, reply: Reply) -> Reply:
        if reply.status >= 400 or not server.writes:
            return reply
        try:
            async with in_transaction():
                for write in server.writes:
                    await write()
        except Replay as replay:
            await self._revoke_family(replay.family_id)
            return error_reply(InvalidGrantError("The grant has already been used."))
        return reply

    async def _revoke_family(self, family_id: str | None) -> None:
        await revoke_family(family_id)
        await self.resource.revocations.reload()

    def _refuse_insecure(self, request: HttpRequest) -> Reply | None:
        if self.config.allow_http or urlsplit(request.uri).scheme == "https":
            return None
        return error_reply(InsecureTransportError())

"""The OAuth2 authorization server: authlib's grants over our models, off the event loop.

Authlib's server classes are synchronous: they call `query_client`,
`query_authorization_code`, `save_token`... and expect answers at once. They never
touch the database here. Each request goes through three steps:

1. Load (async). Before authlib runs, everything the request can touch is read: the
   client it names, the code or refresh token it presents (looked up by digest, with its
   user), the access token it presents (verified, with its revocation), the signing key.
2. Decide (sync). A `_Server` made for this one request (so concurrent requests share no
   state) runs authlib's validation against those in-memory records. Where authlib asks
   to save or delete something, a write is appended to a list instead.
3. Write (async). The writes run in one transaction, each conditional on the row still
   being unused (`UPDATE ... WHERE used_at IS NULL`). When two requests race with one
   code or refresh token only one wins; the loser's answer becomes `invalid_grant` and
   the family is revoked, as for any replay.

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

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

from authlib.oauth2 import AuthorizationServer, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InsecureTransportError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Payload,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc.jwk import ECKey
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from auth.accounts import AccountError, authenticate, normalize_email
from auth.clients import redirect_uri_matches
from auth.config import AUTHORIZATION_CODE_SECONDS, AuthConfig
from auth.digests import digest, matches, new_secret
from auth.errors import InvalidToken
from auth.keys import KeyStore
from auth.resource import ResourceServer
from auth.scopes import SCOPES, UnknownScope, allowed_for, format_scopes, parse_scopes
from auth.tokens import SignedToken, sign_access_token
from models.accounts import User
from models.oauth import (
    AuthorizationCode,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)

CONFIDENTIAL_AUTH = ["client_secret_basic", "client_secret_post"]
# The `client_id` of tokens made on the command line (`storefront issue-token`).
CLI_CLIENT_ID = "storefront-cli"
ANY_CLIENT_AUTH = [*CONFIDENTIAL_AUTH, "none"]

Write = Callable[[], Awaitable[Any]]


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- the HTTP boundary


@dataclass(frozen=True)
class HttpRequest:
    """What the web framework hands over: the request line, headers and parameters."""

    method: str
    uri: str
    headers: Mapping[str, str]
    query: Sequence[tuple[str, str]] = ()
    form: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class Reply:
    """What goes back: a status, a JSON body (or ""), and headers."""

    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name == "Location"), None)


class _Payload(OAuth2Payload):
    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


def _as_https(uri: str) -> str:
    return urlunsplit(urlsplit(uri)._replace(scheme="https"))


class _Request(OAuth2Request):
    def __init__(self, http: HttpRequest, parameters: Sequence[tuple[str, str]]) -> None:
        super().__init__(http.method, _as_https(http.uri), headers=http.headers)
        self.payload = _Payload(parameters)
        self._args = _Payload(http.query).data
        self._form = _Payload(http.form).data

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# ---------------------------------------------------------------- in-memory records


@dataclass(frozen=True)
class _UserRecord:
    id: int
    is_staff: bool
    is_active: bool = True

    @classmethod
    def of(cls, row: User) -> _UserRecord:
        return cls(row.id, row.is_staff, row.is_active)


@dataclass(frozen=True)
class _ClientRecord(ClientMixin):
    pk: int
    client_id: str
    secret_hash: str | None
    name: str
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]

    @classmethod
    def of(cls, row: OAuthClient) -> _ClientRecord:
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
class _CodeRecord(AuthorizationCodeMixin):
    pk: int
    code_hash: str
    client_id: str
    user: _UserRecord
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
class _RefreshRecord(TokenMixin):
    pk: int
    token_hash: str
    family_id: str
    client_id: str
    user: _UserRecord
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
        return max(0, int((self.expires_at - _now()).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= _now()

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
class _AccessRecord(TokenMixin):
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
        return max(0, int(self.claims["exp"]) - int(_now().timestamp()))

    def is_expired(self) -> bool:
        return self.get_expires_in() <= 0

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self, issuer: str) -> dict[str, Any]:
        names = ("client_id", "scope", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")
        return {"token_type": "Bearer"} | {n: self.claims[n] for n in names if n in self.claims}


@dataclass
class _Loaded:
    """Everything authlib may ask about during one request, read beforehand."""

    signing_key: ECKey | None = None
    clients: dict[str, _ClientRecord] = field(default_factory=dict)
    code: _CodeRecord | None = None
    refresh_token: _RefreshRecord | None = None
    access_token: _AccessRecord | None = None


# ---------------------------------------------------------------- loading


def _first_values(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    return _Payload(pairs).data


def _repeated_parameter(pairs: Sequence[tuple[str, str]]) -> Reply | None:
    """RFC 6749 section 3.2: no parameter may appear twice."""
    names = [name for name, _ in pairs]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is None:
        return None
    return _error_reply(InvalidRequestError(f"The parameter '{repeated}' appears twice."))


async def _load_clients(
    loaded: _Loaded, headers: Mapping[str, str], params: dict[str, str]
) -> None:
    basic_id, _ = extract_basic_authorization(headers)
    client_ids = {value for value in (basic_id, params.get("client_id")) if value}
    if client_ids:
        rows = await OAuthClient.filter(client_id__in=list(client_ids))
        loaded.clients = {row.client_id: _ClientRecord.of(row) for row in rows}


async def _load_code(code: str) -> _CodeRecord | None:
    row = await AuthorizationCode.get_or_none(code_hash=digest(code)).select_related(
        "client", "user"
    )
    if row is None:
        return None
    return _CodeRecord(
        pk=row.id,
        code_hash=row.code_hash,
        client_id=row.client.client_id,
        user=_UserRecord.of(row.user),
        redirect_uri=row.redirect_uri,
        scope=row.scope,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        expires_at=row.expires_at,
        used=row.used_at is not None,
        family_id=row.family_id,
    )


async def _load_refresh_token(token: str) -> _RefreshRecord | None:
    row = await RefreshToken.get_or_none(token_hash=digest(token)).select_related("client", "user")
    if row is None:
        return None
    return _RefreshRecord(
        pk=row.id,
        token_hash=row.token_hash,
        family_id=row.family_id,
        client_id=row.client.client_id,
        user=_UserRecord.of(row.user),
        scope=row.scope,
        expires_at=row.expires_at,
        created_at=row.created_at,
        used=row.used_at is not None,
        revoked=row.revoked_at is not None,
    )


# ---------------------------------------------------------------- writing


class _Replay(Exception):
    """A code or refresh token was used again (or by two requests at once)."""

    def __init__(self, family_id: str | None) -> None:
        super().__init__(family_id)
        self.family_id = family_id


async def revoke_family(family_id: str | None) -> None:
    """Revoke every refresh token of a family and the live access tokens issued with them."""
    if not family_id:
        return
    now = _now()
    live = await RefreshToken.filter(family_id=family_id, access_expires_at__gt=now).values_list(
        "access_jti", "access_expires_at"
    )
    await RefreshToken.filter(family_id=family_id, revoked_at=None).update(revoked_at=now)
    await RevokedAccessToken.bulk_create(
        [RevokedAccessToken(jti=jti, expires_at=expires_at) for jti, expires_at in live],
        ignore_conflicts=True,
    )


async def _revoke_access_token(jti: str, expires_at: datetime) -> None:
    await RevokedAccessToken.bulk_create(
        [RevokedAccessToken(jti=jti, expires_at=expires_at)], ignore_conflicts=True
    )


async def _mark_code_used(code_pk: int, family_id: str) -> None:
    updated = await AuthorizationCode.filter(id=code_pk, used_at=None).update(
        used_at=_now(), family_id=family_id
    )
    if not updated:
        row = await AuthorizationCode.get_or_none(id=code_pk)
        raise _Replay(row.family_id if row else None)


async def _mark_refresh_token_used(token_pk: int, family_id: str) -> None:
    updated = await RefreshToken.filter(id=token_pk, used_at=None, revoked_at=None).update(
        used_at=_now()
    )
    if not updated:
        raise _Replay(family_id)


async def purge_expired() -> None:
    """Forget codes, refresh tokens and revocations that can no longer matter."""
    now = _now()
    await AuthorizationCode.filter(expires_at__lt=now).delete()
    await RefreshToken.filter(Q(expires_at__lt=now) & Q(access_expires_at__lt=now)).delete()
    await RevokedAccessToken.filter(expires_at__lt=now).delete()


# ---------------------------------------------------------------- authlib, per request


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
    server: _Server

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: _UserRecord = request.user
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
                expires_at=_now() + timedelta(seconds=AUTHORIZATION_CODE_SECONDS),
            )
        )

    def query_authorization_code(self, code: str, client: _ClientRecord) -> _CodeRecord | None:
        record = self.server.loaded.code
        if record is None or not matches(code, record.code_hash):
            return None
        if record.client_id != client.client_id or record.used or record.expires_at <= _now():
            return None
        return record if record.user.is_active else None

    def delete_authorization_code(self, authorization_code: _CodeRecord) -> None:
        self.server.writes.append(
            partial(_mark_code_used, authorization_code.pk, self.server.family_id)
        )

    def authenticate_user(self, authorization_code: _CodeRecord) -> _UserRecord:
        return authorization_code.user


class _RefreshTokenGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: _Server

    def authenticate_refresh_token(self, refresh_token: str) -> _RefreshRecord | None:
        record = self.server.loaded.refresh_token
        if record is None or not matches(refresh_token, record.token_hash):
            return None
        if record.is_revoked() or record.is_expired() or not record.user.is_active:
            return None
        return record

    def authenticate_user(self, refresh_token: _RefreshRecord) -> _UserRecord:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: _RefreshRecord) -> None:
        self.server.writes.append(
            partial(_mark_refresh_token_used, refresh_token.pk, refresh_token.family_id)
        )


class _ClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def validate_token_request(self) -> None:
        super().validate_token_request()
        if self.request.client.get_allowed_scope(self.request.payload.scope) is None:
            raise InvalidScopeError("The client may not ask for these scopes.")


class _LoadedTokenLookup:
    server: _Server

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> _AccessRecord | _RefreshRecord | None:
        loaded = self.server.loaded
        return loaded.access_token or loaded.refresh_token


class _RevocationEndpoint(_LoadedTokenLookup, RevocationEndpoint):
    CLIENT_AUTH_METHODS = ANY_CLIENT_AUTH

    def revoke_token(self, token: _AccessRecord | _RefreshRecord, request: Any) -> None:
        if isinstance(token, _AccessRecord):
            self.server.writes.append(partial(_revoke_access_token, token.jti, token.expires_at))
        else:
            self.server.writes.append(partial(revoke_family, token.family_id))


class _IntrospectionEndpoint(_LoadedTokenLookup, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH

    def check_permission(self, token: TokenMixin, client: _ClientRecord, request: Any) -> bool:
        # A client may introspect the tokens issued to it, nobody else's.
        return bool(token.check_client(client))

    def introspect_token(self, token: _AccessRecord | _RefreshRecord) -> dict[str, Any]:
        return token.introspection(self.server.config.issuer)


class _Server(AuthorizationServer):
    """Authlib's server for one request, answering from `loaded` and queueing `writes`."""

    def __init__(self, config: AuthConfig, loaded: _Loaded) -> None:
        super().__init__(scopes_supported=list(SCOPES))
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

    def query_client(self, client_id: str) -> _ClientRecord | None:
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
        client: _ClientRecord,
        user: _UserRecord | None = None,
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
        previous: _RefreshRecord | None = request.refresh_token
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
                expires_at=_now() + timedelta(seconds=self.config.refresh_token_seconds),
            )
        )


# ---------------------------------------------------------------- the service


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
            "scopes_supported": list(SCOPES),
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
        except UnknownScope as error:
            raise AccountError(str(error)) from None
        if not requested:
            raise AccountError("give at least one scope")
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
        if refused := self._refuse_insecure(request) or _repeated_parameter(request.form):
            return refused
        form = _first_values(request.form)
        loaded = _Loaded(signing_key=await self.keys.signing_key())
        await _load_clients(loaded, request.headers, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code" and form.get("code"):
            loaded.code = await _load_code(form["code"])
            if loaded.code is not None and loaded.code.used:
                await self._revoke_family(loaded.code.family_id)
        elif grant_type == "refresh_token" and form.get("refresh_token"):
            loaded.refresh_token = await _load_refresh_token(form["refresh_token"])
            if loaded.refresh_token is not None and loaded.refresh_token.used:
                await self._revoke_family(loaded.refresh_token.family_id)
        server = _Server(self.config, loaded)
        reply = server.create_token_response(_Request(request, request.form))
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
        client: _ClientRecord = grant.request.client
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
            request=grant.request, grant_user=_UserRecord.of(user), grant=grant
        )
        reply = await self._commit(server, reply)
        await purge_expired()
        return reply

    async def _consent(self, request: HttpRequest) -> tuple[_Server, Any]:
        if refused := self._refuse_insecure(request):
            return _Server(self.config, _Loaded()), refused
        loaded = _Loaded()
        await _load_clients(loaded, {}, _first_values(request.query))
        server = _Server(self.config, loaded)
        oauth_request = _Request(request, request.query)
        try:
            return server, server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return server, server.handle_error_response(oauth_request, error)

    async def _token_endpoint(self, request: HttpRequest, name: str) -> Reply:
        if refused := self._refuse_insecure(request) or _repeated_parameter(request.form):
            return refused
        form = _first_values(request.form)
        loaded = _Loaded()
        await _load_clients(loaded, request.headers, form)
        await self._load_presented_token(loaded, form.get("token", ""))
        server = _Server(self.config, loaded)
        reply = server.create_endpoint_response(name, _Request(request, request.form))
        return await self._commit(server, reply)

    async def _load_presented_token(self, loaded: _Loaded, token: str) -> None:
        if token.count(".") == 2:
            try:
                claims = await self.resource.local_claims(token)
            except InvalidToken:
                return
            revoked = await RevokedAccessToken.exists(jti=claims["jti"])
            loaded.access_token = _AccessRecord(claims, revoked)
        elif token:
            loaded.refresh_token = await _load_refresh_token(token)

    async def _commit(self, server: _Server, reply: Reply) -> Reply:
        if reply.status >= 400 or not server.writes:
            return reply
        try:
            async with in_transaction():
                for write in server.writes:
                    await write()
        except _Replay as replay:
            await self._revoke_family(replay.family_id)
            return _error_reply(InvalidGrantError("The grant has already been used."))
        return reply

    async def _revoke_family(self, family_id: str | None) -> None:
        await revoke_family(family_id)
        await self.resource.revocations.reload()

    def _refuse_insecure(self, request: HttpRequest) -> Reply | None:
        if self.config.allow_http or urlsplit(request.uri).scheme == "https":
            return None
        return _error_reply(InsecureTransportError())


def credential_attempt(request: HttpRequest) -> str | None:
    """The client id a token request tries a secret or a refresh token for (what sign-in
    rate limits count as the account), or None when it presents neither."""
    form = _first_values(request.form)
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    if basic_secret:
        return str(basic_id or "")
    if form.get("client_secret") or form.get("grant_type") == "refresh_token":
        return form.get("client_id") or str(basic_id or "")
    return None


def failed_credentials(reply: Reply) -> bool:
    """Whether a token reply refused the client's secret or the refresh token."""
    body = reply.body if isinstance(reply.body, dict) else {}
    return body.get("error") in {"invalid_client", "invalid_grant"}


def _error_reply(error: OAuth2Error) -> Reply:
    status, body, headers = error()
    return Reply(status, body, list(headers))

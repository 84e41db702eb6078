"""The OAuth2 endpoints over HTTP: Starlette in front of `auth`'s authorization server.

`build_auth(settings)` makes the parts every request shares (signing keys, the resource
server that turns bearer tokens into viewers, the authorization service) once per app;
`oauth_routes(auth)` mounts the endpoints of the contract on them.

The login page of `/oauth/authorize` is protected against cross-site request forgery
with a signed double-submit cookie: the page sets a token signed by the server
(`auth.csrf`) in a cookie and in a hidden field, and the POST must bring both, equal, and
the token must verify. Another site can make a browser send the cookie but can't read it
to fill in the field, and can't make up a token of its own. Over https the cookie is named with the
`__Host-` prefix, so neither plain http nor a sibling subdomain can plant one. The page
may not be framed, is never cached, and sends no referrer.

Sign-in attempts (the login form, and client secrets and refresh tokens at the token
endpoint) are rate limited per client address and per account (`server.ratelimit`):
over the limit the form answers a readable 429 page and the token endpoint an OAuth
error body, both with `Retry-After`, and the password or secret is not checked.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from auth.accounts import normalize_email
from auth.config import AuthConfig, ExternalIssuer
from auth.csrf import MAX_AGE_SECONDS as CSRF_MAX_AGE_SECONDS
from auth.csrf import csrf_token_valid, new_csrf_token
from auth.jwks import RemoteJwks
from auth.keys import KeyCipher, KeyStore
from auth.messages import HttpRequest, Reply, credential_attempt, failed_credentials
from auth.resource import ResourceServer
from auth.scopes import SCOPES
from auth.server import AuthorizationService, Prompt
from server.ratelimit import RateLimits, Refusal, client_address
from server.settings import Settings

_TEMPLATES = Path(__file__).parent / "templates"
_LOGIN_PAGE = Template((_TEMPLATES / "authorize.html").read_text(encoding="utf-8"))
_ERROR_PAGE = Template((_TEMPLATES / "oauth_error.html").read_text(encoding="utf-8"))
CSRF_FIELD = "csrf_token"
_FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Auth:
    """The authentication parts of one app, shared by every request."""

    config: AuthConfig
    keys: KeyStore
    resource: ResourceServer
    service: AuthorizationService


def auth_config(settings: Settings) -> AuthConfig:
    external = None
    if settings.oauth_issuer and settings.oauth_jwks_url:
        claim, _, value = settings.oauth_staff_claim.partition(":")
        external = ExternalIssuer(
            issuer=settings.oauth_issuer,
            jwks_url=settings.oauth_jwks_url,
            staff_claim=claim,
            staff_value=value,
            cache_seconds=settings.oauth_jwks_cache_seconds,
            refetch_seconds=settings.oauth_jwks_refetch_seconds,
        )
    return AuthConfig(
        issuer=settings.oauth_server_issuer,
        audience=settings.oauth_audience,
        server_enabled=settings.oauth_server,
        access_token_seconds=settings.access_token_seconds,
        refresh_token_seconds=settings.refresh_token_seconds,
        allow_http=settings.oauth_allow_http,
        external=external,
        account_status_seconds=settings.account_status_seconds,
    )


def key_cipher(settings: Settings) -> KeyCipher | None:
    """What encrypts the private signing keys at rest; None without OAUTH_KEY_SECRET."""
    return KeyCipher(settings.oauth_key_secret) if settings.oauth_key_secret else None


def build_auth(settings: Settings) -> Auth:
    config = auth_config(settings)
    keys = KeyStore(config.access_token_seconds, key_cipher(settings))
    remote = None
    if config.external is not None:
        remote = RemoteJwks(
            config.external.jwks_url,
            cache_seconds=config.external.cache_seconds,
            refetch_seconds=config.external.refetch_seconds,
        )
    resource = ResourceServer(config, keys, remote)
    return Auth(config, keys, resource, AuthorizationService(config, keys, resource))


def oauth_routes(auth: Auth, rate_limits: RateLimits) -> list[BaseRoute]:
    """The authorization server's endpoints; none when OAUTH_SERVER=false."""
    if not auth.config.server_enabled:
        return []
    endpoints = _Endpoints(auth, rate_limits)
    return [
        Route("/oauth/authorize", endpoints.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", endpoints.token, methods=["POST"]),
        Route("/oauth/revoke", endpoints.revoke, methods=["POST"]),
        Route("/oauth/introspect", endpoints.introspect, methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", endpoints.metadata, methods=["GET"]),
        Route("/.well-known/jwks.json", endpoints.jwks, methods=["GET"]),
    ]


def _http_request(request: Request, form: list[tuple[str, str]] | None = None) -> HttpRequest:
    return HttpRequest(
        method=request.method,
        uri=str(request.url),
        headers=request.headers,
        query=request.query_params.multi_items(),
        form=form or [],
    )


async def _form(request: Request) -> list[tuple[str, str]] | None:
    """The url-encoded form body, or None when the body is something else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        return None
    form = await request.form()
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def _json_reply(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.location:
        return RedirectResponse(reply.location, status_code=reply.status, headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


def _not_a_form() -> Response:
    return JSONResponse(
        {"error": "invalid_request", "error_description": f"The body must be {_FORM_TYPE}."},
        status_code=400,
        headers={"Cache-Control": "no-store"},
    )


def _page_headers(form_target: str | None = None) -> dict[str, str]:
    form_action = "'self'"
    if form_target:
        parts = urlsplit(form_target)
        # Browsers apply form-action to the redirect after the POST too.
        form_action += f" {parts.scheme}://{parts.netloc}"
    return {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
    }


def _error_page(status: int, title: str, message: str) -> HTMLResponse:
    body = _ERROR_PAGE.substitute(title=escape(title), message=escape(message))
    return HTMLResponse(body, status_code=status, headers=_page_headers())


def _authorization_reply(reply: Reply) -> Response:
    """An authorization request's outcome: back to the client, or (when the client or its
    redirect URI can't be trusted) an error page here, never a redirect."""
    if reply.location:
        return RedirectResponse(reply.location, status_code=302, headers=_page_headers())
    body = reply.body if isinstance(reply.body, dict) else {}
    message = body.get("error_description") or body.get("error") or "invalid request"
    return _error_page(reply.status, "This sign-in request is not valid", str(message))


def _too_many_attempts_page(refusal: Refusal) -> HTMLResponse:
    page = _error_page(
        429,
        "Too many sign-in attempts",
        f"Wait {refusal.retry_after} seconds, then go back and try again.",
    )
    page.headers.update(refusal.headers)
    return page


def _too_many_attempts_reply(refusal: Refusal) -> Response:
    return JSONResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": (
                f"Too many attempts: try again in {refusal.retry_after} seconds."
            ),
        },
        status_code=429,
        headers={"Cache-Control": "no-store", **refusal.headers},
    )


class _Endpoints:
    def __init__(self, auth: Auth, rate_limits: RateLimits) -> None:
        self.auth = auth
        self.rate_limits = rate_limits
        secure = auth.config.issuer.startswith("https://")
        self.csrf_cookie = "__Host-oauth_csrf" if secure else "oauth_csrf"
        self.secure_cookie = secure

    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._sign_in(request)
        outcome = await self.auth.service.prompt(_http_request(request))
        if isinstance(outcome, Reply):
            return _authorization_reply(outcome)
        return self._login_page(request, outcome, await self._csrf_token(request))

    async def _sign_in(self, request: Request) -> Response:
        form = dict(await _form(request) or [])
        cookie = request.cookies.get(self.csrf_cookie, "")
        if not await self._csrf_passes(cookie, form.get(CSRF_FIELD, "")):
            return _error_page(
                403,
                "The sign-in form has expired",
                "The form was too old or did not come from this site. Go back and try again.",
            )
        http = _http_request(request)
        username = form.get("username", "")
        account = f"user:{normalize_email(username)}"
        address = client_address(request.scope)
        if refusal := await self.rate_limits.sign_in_attempt(address, account):
            return _too_many_attempts_page(refusal)
        reply = await self.auth.service.authorize(http, username, form.get("password", ""))
        if reply is not None:
            return _authorization_reply(reply)
        await self.rate_limits.sign_in_failed(account)
        outcome = await self.auth.service.prompt(http)
        if isinstance(outcome, Reply):
            return _authorization_reply(outcome)
        return self._login_page(
            request, outcome, cookie, username=username, error="Wrong e-mail or password."
        )

    async def _csrf_passes(self, cookie: str, sent: str) -> bool:
        if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
            return False
        return await csrf_token_valid(self.auth.keys, cookie)

    async def _csrf_token(self, request: Request) -> str:
        # Reused while valid, so two open sign-in tabs don't invalidate each other.
        existing = request.cookies.get(self.csrf_cookie, "")
        if existing and await csrf_token_valid(self.auth.keys, existing):
            return existing
        return await new_csrf_token(self.auth.keys)

    def _login_page(
        self,
        request: Request,
        prompt: Prompt,
        csrf_token: str,
        *,
        username: str = "",
        error: str | None = None,
    ) -> HTMLResponse:
        action = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        scopes = "".join(f"<li>{escape(SCOPES.get(s, s))}</li>" for s in prompt.scopes)
        body = _LOGIN_PAGE.substitute(
            client_name=escape(prompt.client_name),
            scopes=scopes,
            action=escape(action),
            csrf_token=escape(csrf_token),
            username=escape(username),
            error=f'<p class="error" role="alert">{escape(error)}</p>' if error else "",
        )
        response = HTMLResponse(
            body, status_code=400 if error else 200, headers=_page_headers(prompt.redirect_uri)
        )
        response.set_cookie(
            self.csrf_cookie,
            csrf_token,
            max_age=CSRF_MAX_AGE_SECONDS,
            path="/",
            secure=self.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    async def token(self, request: Request) -> Response:
        return await self._form_endpoint(request, self.auth.service.token)

    async def revoke(self, request: Request) -> Response:
        return await self._form_endpoint(request, self.auth.service.revoke)

    async def introspect(self, request: Request) -> Response:
        return await self._form_endpoint(request, self.auth.service.introspect)

    async def _form_endpoint(
        self, request: Request, handler: Callable[[HttpRequest], Awaitable[Reply]]
    ) -> Response:
        """A form POST to `handler`; one that presents a client secret or a refresh token
        is a sign-in attempt of that client (introspection and revocation too: else
        they would be a way to guess secrets past the limit)."""
        form = await _form(request)
        if form is None:
            return _not_a_form()
        http = _http_request(request, form)
        client = credential_attempt(http)
        if client is None:
            return _json_reply(await handler(http))
        account = f"client:{client}"
        address = client_address(request.scope)
        if refusal := await self.rate_limits.sign_in_attempt(address, account):
            return _too_many_attempts_reply(refusal)
        reply = await handler(http)
        if failed_credentials(reply):
            await self.rate_limits.sign_in_failed(account)
        return _json_reply(reply)

    async def metadata(self, request: Request) -> Response:
        return JSONResponse(
            self.auth.service.metadata(), headers={"Cache-Control": "public, max-age=300"}
        )

    async def jwks(self, request: Request) -> Response:
        document: dict[str, Any] = await self.auth.keys.jwks()
        # Short, so that a rotated key reaches other verifiers soon.
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})

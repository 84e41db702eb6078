"""HTTP middleware: proxy headers, request ids, tracing, the access log, CORS and the
request body limit.

Plain ASGI classes (not `BaseHTTPMiddleware`), so that they cost little per request and
leave streaming and WebSocket traffic alone.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.graphql_http import error_response
from server.metrics import observe_graphql_request
from server.ratelimit import client_address
from server.settings import Settings
from server.tracing import TracingMiddleware
from telemetry import tracing
from telemetry.request import RequestRecord, recording

REQUEST_ID_HEADER = "X-Request-ID"
# What an incoming X-Request-ID may be to be kept (it goes into logs and headers).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
GRAPHQL_PATH = "/graphql"
# The origins of pages served from this machine, on any port (CORS_ALLOW_LOOPBACK).
LOOPBACK_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"
access_log = logging.getLogger("storefront.access")


def middleware(settings: Settings) -> list[Middleware]:
    """The app's middleware, outermost first."""
    cors = (
        [
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_origin_regex=LOOPBACK_ORIGINS if settings.cors_allow_loopback else None,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept", REQUEST_ID_HEADER],
                expose_headers=[REQUEST_ID_HEADER],
                max_age=600,
            )
        ]
        if settings.cors_origins or settings.cors_allow_loopback
        else []
    )
    # X-Forwarded-For/-Proto of the proxies in FORWARDED_ALLOW_IPS, first, so that every
    # layer (access log, rate limits, the OAuth https check) sees the same client and
    # scheme; `storefront serve` leaves uvicorn's own copy of this middleware off.
    proxies = (
        [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.forwarded_allow_ips))]
        if settings.forwarded_allow_ips
        else []
    )
    return [
        *proxies,
        Middleware(RequestIdMiddleware),
        *([Middleware(TracingMiddleware)] if tracing.active() else []),
        Middleware(AccessLogMiddleware),
        *cors,
        Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestIdMiddleware:
    """Keeps a sane incoming X-Request-ID or makes one; puts it in `scope["state"]` and
    in the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        await self.app(scope, receive, send_with_id)


class AccessLogMiddleware:
    """One line per HTTP request, and the request metrics of /graphql.

    The line has the method, path, status, duration, request id, peer address and, for
    GraphQL, the operation (name, type, outcome, cost, error codes), the caller (a token's
    subject or client id, never the token) and the SQL statements it took. The fields are
    attributes of the record too (`extra`), which the JSON format writes as keys.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | str = "-"  # no response: the client went away first

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with recording(scope.get("state", {}).get("request_id", "-")) as record:
            try:
                await self.app(scope, receive, send_and_note)
            except Exception:
                status = 500
                raise
            finally:
                seconds = time.perf_counter() - started
                if scope["path"] == GRAPHQL_PATH:
                    observe_graphql_request(record, seconds)
                _log_access(scope, status, seconds, record)


def _log_access(scope: Scope, status: int | str, seconds: float, record: RequestRecord) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return  # the line's fields are not built for a log that drops it
    fields = {
        "request_id": record.request_id,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client": client_address(scope),
        "caller": record.caller,
    }
    if record.outcome is not None or record.operation_type is not None:
        fields.update(
            operation=record.operation_name,
            operation_type=record.operation_type,
            outcome=record.outcome,
            cost=record.cost,
            error_codes=record.error_codes,
        )
    fields["statements"] = record.statements
    text = " ".join(
        f"{key}={value}"
        for key, value in fields.items()
        if key not in {"method", "path", "status", "duration_ms"} and value not in (None, [])
    )
    access_log.info(
        "%s %s %s %.1fms %s",
        scope["method"],
        scope["path"],
        status,
        seconds * 1000,
        text,
        extra=fields,
    )


class BodySizeLimitMiddleware:
    """Answers 413 (JSON) to a request body over `max_bytes`, declared or streamed.

    A streamed body that grows past the limit reads as a client disconnect to the app;
    this middleware then answers in its place.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        exceeded = responded = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def send_and_note(message: Message) -> None:
            nonlocal responded
            responded = responded or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, send_and_note)
        except Exception:
            if not exceeded or responded:
                raise
        if exceeded and not responded:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, f"The request body is larger than {self.max_bytes} bytes", "BAD_REQUEST"
        )
        await response(scope, receive, send)

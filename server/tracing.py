"""OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Off, nothing of OpenTelemetry is imported and no middleware is added; the spans the other
layers ask for (`telemetry.tracing.span`) are one shared inert object. On, each worker
sends its spans in batches (a background thread) to `<endpoint>/v1/traces` over OTLP/HTTP;
the SDK's own OTEL_* variables (service name, resource attributes, headers) apply.

The span tree of a request: `POST /graphql` (continuing the caller's `traceparent`) >
`query Name` (operation: name, type, cost) > `mutation.field` (each mutation field) >
`dataloader.batch` > `db.statement` (the parameterised SQL text, never the values).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.settings import Settings
from telemetry import tracing

logger = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 10.0
EXPORT_TIMEOUT_SECONDS = 5.0


def start_tracing(settings: Settings) -> Any:
    """Switch tracing on when a collector is configured; returns the tracer provider."""
    if not settings.otel_exporter_otlp_endpoint or tracing.active():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME, when set, wins over this default.
    provider = TracerProvider(resource=Resource.create({"service.name": "storefront"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{settings.otel_exporter_otlp_endpoint}/v1/traces",
        timeout=EXPORT_TIMEOUT_SECONDS,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracing.use_tracer(provider.get_tracer("storefront"))
    return provider


async def stop_tracing(provider: Any) -> None:
    """Send the spans still queued, within a deadline, and switch tracing off."""
    if provider is None:
        return
    tracing.use_tracer(None)
    try:
        await asyncio.wait_for(asyncio.to_thread(provider.shutdown), SHUTDOWN_SECONDS)
    except TimeoutError:
        logger.warning(
            "tracing: the collector did not take the last spans within %ss", SHUTDOWN_SECONDS
        )


class TracingMiddleware:
    """A server span per HTTP request, continuing an incoming `traceparent`."""

    def __init__(self, app: ASGIApp) -> None:
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self.app = app
        self._extract = extract
        self._server = SpanKind.SERVER
        self._error = Status(StatusCode.ERROR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not tracing.active():
            await self.app(scope, receive, send)
            return
        carrier = {
            bytes(key).decode("latin-1"): bytes(value).decode("latin-1")
            for key, value in scope.get("headers", ())
        }
        attributes = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "storefront.request_id": scope.get("state", {}).get("request_id", ""),
        }
        with tracing.tracer().start_as_current_span(
            f"{scope['method']} {scope['path']}",
            context=self._extract(carrier),
            kind=self._server,
            attributes=attributes,
        ) as span:

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(self._error)
                await send(message)

            await self.app(scope, receive, send_and_note)

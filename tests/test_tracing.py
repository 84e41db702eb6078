"""Tracing: the span tree of a request, collected with the SDK's in-memory exporter; off by
default, with nothing of OpenTelemetry loaded; on, spans reach an OTLP collector."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from server.settings import Settings
from server.tracing import start_tracing, stop_tracing
from telemetry import tracing
from tests.conftest import graphql
from tests.factories import make_catalog, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
LISTING = """
query Listing {
  products(first: 3) { edges { node { name category { name } reviews(first: 2) {
    edges { node { rating author { name } } } } } } }
}
"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer(provider.get_tracer("tests"))
    yield exporter
    tracing.use_tracer(None)


@pytest.fixture
async def traced(
    settings: Settings, spans: InMemorySpanExporter
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(make_app(settings)) as http:
        yield http


def named(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name == name]


def parent_of(span: ReadableSpan, finished: tuple[ReadableSpan, ...]) -> ReadableSpan | None:
    assert span.parent is not None
    return next((other for other in finished if other.context.span_id == span.parent.span_id), None)


def ancestors(span: ReadableSpan, finished: tuple[ReadableSpan, ...]) -> list[str]:
    names = []
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        current = parent_of(current, finished)
        if current is not None:
            names.append(current.name)
    return names


async def test_a_listing_gives_one_trace_continuing_the_callers(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    catalog = await make_catalog(3, reviews_per_product=2)
    spans.clear()

    response = await traced.post(
        "/graphql", json={"query": LISTING}, headers={"traceparent": TRACEPARENT}
    )

    assert response.status_code == 200
    assert "errors" not in response.json()
    finished = spans.get_finished_spans()
    assert {format(span.context.trace_id, "032x") for span in finished} == {TRACE_ID}
    [request] = named(finished, "POST /graphql")
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == PARENT_ID
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    [operation] = named(finished, "query Listing")
    assert parent_of(operation, finished) is request
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Listing"
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.attributes["storefront.query_cost"] > 0
    batches = named(finished, "dataloader.batch")
    assert {span.attributes["dataloader.name"] for span in batches if span.attributes} >= {
        "load_users"
    }
    statements = named(finished, "db.statement")
    assert statements
    for span in [*batches, *statements]:
        assert "query Listing" in ancestors(span, finished), span.name
    texts = [str((span.attributes or {}).get("db.query.text")) for span in statements]
    assert all(text.upper().startswith("SELECT") for text in texts), texts
    # Statements carry placeholders, never the values they were sent with.
    product = catalog.products[0]
    assert not any(product.name in text or product.sku in text for text in texts)


async def test_a_mutation_has_its_own_span(
    traced: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    await make_user("staff@example.com", staff=True)
    web = await make_client("catalog:write")
    token = (
        await browser_tokens(traced, web.client_id, "staff@example.com", scope="catalog:write")
    )["access_token"]
    spans.clear()

    body = await graphql(
        traced,
        'mutation Remove { deleteProduct(input: {id: "UHJvZHVjdDo5OTk="}) '
        "{ deletedProductId userErrors { code } } }",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert "errors" not in body, body
    finished = spans.get_finished_spans()
    [mutation] = named(finished, "mutation.deleteProduct")
    assert ancestors(mutation, finished)[:2] == ["mutation Remove", "POST /graphql"]
    assert any(
        "mutation.deleteProduct" in ancestors(span, finished)
        for span in named(finished, "db.statement")
    )


def test_tracing_is_off_by_default_and_loads_no_tracer_or_exporter(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    # redis-py imports OpenTelemetry's API for its own optional instrumentation; the SDK's
    # tracer and the exporter are what tracing would cost.
    script = (
        "import sys; from server.app import create_app; from telemetry import tracing; "
        "create_app(); print(tracing.active(), any(name.startswith(('opentelemetry.sdk.trace', "
        "'opentelemetry.exporter')) for name in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "PYTHONPATH": str(Path(__file__).parent.parent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert output.split() == ["False", "False"]


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, int]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.received.append((self.path, self.headers.get("content-type", ""), length))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, int]]]]:
    """A stand-in OTLP/HTTP collector on 127.0.0.1 that keeps what it is sent."""
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_spans_reach_the_configured_collector(
    collector: tuple[str, list[tuple[str, str, int]]],
) -> None:
    endpoint, received = collector
    settings = replace(Settings(), otel_exporter_otlp_endpoint=endpoint)
    provider = start_tracing(settings)
    try:
        async with http_client(make_app(settings)) as http:
            assert (
                await http.post("/graphql", json={"query": "{ __typename }"})
            ).status_code == 200
    finally:
        await stop_tracing(provider)  # sends what is queued

    assert not tracing.active()
    assert received
    assert all(path == "/v1/traces" for path, _, _ in received)
    assert all(kind == "application/x-protobuf" and size > 0 for _, kind, size in received)

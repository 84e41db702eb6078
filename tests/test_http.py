"""/graphql as an HTTP client sees it: the GraphQL-over-HTTP spec, hostile requests,
request ids, the access log, CORS, the body limit and an unreachable database.

Every refusal must be JSON with `errors[].extensions.code`, never plain text or a 500,
and must leave the data as it was.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise.context import TortoiseContext

from models.catalog import Product
from models.orders import Order
from models.reviews import Review
from server.app import create_app
from server.database import apply_migrations, tortoise_config
from server.settings import Settings
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    free_port,
    port_open,
    require_service,
    start_server,
    stop_server,
    wait_healthy,
)
from tests.factories import make_catalog

NODE_DIR = Path(__file__).parent / "node"
BODY_LIMIT = 20_000
ORIGIN = "https://shop.example"
GRAPHQL_RESPONSE = "application/graphql-response+json"
POST_JSON = {"content-type": "application/json"}
LISTING = "{ products(first: 2) { totalCount edges { node { sku name } } } }"


@pytest.fixture
def bare_settings(bare_settings: Settings) -> Settings:
    return replace(bare_settings, max_body_bytes=BODY_LIMIT, cors_origins=(ORIGIN,))


@pytest.fixture
async def catalog(db: str) -> None:
    await make_catalog(products=3, reviews_per_product=1)


async def snapshot() -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    return (
        await Product.all().order_by("id").values_list("sku", "name", "stock", "price_minor"),
        await Review.all().count(),
        await Order.all().count(),
    )


def assert_json_error(
    response: httpx.Response, status: int, code: str, media_type: str = "application/json"
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(media_type), response.headers
    body: dict[str, Any] = response.json()
    assert "data" not in body, body
    assert body["errors"], body
    assert all(error["extensions"]["code"] == code for error in body["errors"]), body
    return body


@dataclass(frozen=True)
class Hostile:
    """A request the service must refuse, and how."""

    id: str
    status: int
    code: str
    method: str = "POST"
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(POST_JSON))
    params: dict[str, str] | None = None


def body(value: object) -> bytes:
    return json.dumps(value).encode()


QUERY = "{ __typename }"
HOSTILE = [
    Hostile("no-content-type", 415, "BAD_REQUEST", content=body({"query": QUERY}), headers={}),
    Hostile(
        "text-plain",
        415,
        "BAD_REQUEST",
        content=body({"query": QUERY}),
        headers={"content-type": "text/plain"},
    ),
    Hostile(
        "form-urlencoded",
        415,
        "BAD_REQUEST",
        content=b"query=%7B__typename%7D",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Hostile(
        "json-in-latin-1",
        415,
        "BAD_REQUEST",
        content=body({"query": QUERY}),
        headers={"content-type": "application/json; charset=iso-8859-1"},
    ),
    Hostile("not-json", 400, "BAD_REQUEST", content=b'{ "not a JSON'),
    Hostile("empty-body", 400, "BAD_REQUEST", content=b""),
    Hostile("json-null", 400, "BAD_REQUEST", content=b"null"),
    Hostile("json-number", 400, "BAD_REQUEST", content=b"42"),
    Hostile("json-string", 400, "BAD_REQUEST", content=b'"{ __typename }"'),
    Hostile("json-true", 400, "BAD_REQUEST", content=b"true"),
    Hostile("json-array", 400, "BAD_REQUEST", content=body([{"query": QUERY}])),
    Hostile("invalid-utf8", 400, "BAD_REQUEST", content=b'{"query": "{ __typename \xff }"}'),
    Hostile("lone-surrogate", 400, "BAD_REQUEST", content=b'{"query": "\\ud800"}'),
    Hostile(
        "byte-order-mark", 400, "BAD_REQUEST", content=b"\xef\xbb\xbf" + body({"query": QUERY})
    ),
    Hostile(
        "huge-integer-variable",
        400,
        "BAD_REQUEST",
        content=b'{"query": "query($n: Int) { products(first: $n) { totalCount } }",'
        b' "variables": {"n": ' + b"9" * 5000 + b"}}",
    ),
    Hostile(
        "json-nested-deep",
        400,
        "BAD_REQUEST",
        content=b'{"query": "{ __typename }", "variables": {"v": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}}",
    ),
    Hostile("missing-query", 400, "BAD_REQUEST", content=body({"notquery": QUERY})),
    Hostile("null-query", 400, "BAD_REQUEST", content=body({"query": None})),
    Hostile("empty-query", 400, "BAD_REQUEST", content=body({"query": ""})),
    Hostile("number-query", 400, "BAD_REQUEST", content=body({"query": 1})),
    Hostile("object-query", 400, "BAD_REQUEST", content=body({"query": {"obj": "ect"}})),
    Hostile("array-query", 400, "BAD_REQUEST", content=body({"query": [QUERY]})),
    Hostile(
        "string-variables", 400, "BAD_REQUEST", content=body({"query": QUERY, "variables": "{}"})
    ),
    Hostile("array-variables", 400, "BAD_REQUEST", content=body({"query": QUERY, "variables": []})),
    Hostile(
        "number-operation-name",
        400,
        "BAD_REQUEST",
        content=body({"query": QUERY, "operationName": 0}),
    ),
    Hostile(
        "string-extensions", 400, "BAD_REQUEST", content=body({"query": QUERY, "extensions": "x"})
    ),
    Hostile(
        "unknown-operation-name",
        400,
        "BAD_REQUEST",
        content=body({"query": "query A { __typename }", "operationName": "B"}),
    ),
    Hostile(
        "two-operations-without-name",
        400,
        "BAD_REQUEST",
        content=body({"query": "query A { __typename } mutation B { __typename }"}),
    ),
    Hostile(
        "subscription-over-http",
        400,
        "BAD_REQUEST",
        content=body({"query": "subscription { __typename }"}),
    ),
    Hostile(
        "get-without-query",
        400,
        "BAD_REQUEST",
        method="GET",
        headers={"accept": "application/json"},
        params={},
    ),
    Hostile(
        "get-variables-not-json",
        400,
        "BAD_REQUEST",
        method="GET",
        headers={},
        params={"query": QUERY, "variables": "{nope"},
    ),
    Hostile(
        "get-variables-array",
        400,
        "BAD_REQUEST",
        method="GET",
        headers={},
        params={"query": QUERY, "variables": "[1]"},
    ),
    Hostile("put", 405, "BAD_REQUEST", method="PUT", content=body({"query": QUERY})),
    Hostile("delete", 405, "BAD_REQUEST", method="DELETE", headers={}),
    Hostile(
        "accepts-only-csv",
        406,
        "BAD_REQUEST",
        content=body({"query": QUERY}),
        headers={**POST_JSON, "accept": "text/csv"},
    ),
    Hostile(
        "refuses-json",
        406,
        "BAD_REQUEST",
        content=body({"query": QUERY}),
        headers={**POST_JSON, "accept": "application/json;q=0, text/html"},
    ),
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda hostile: hostile.id)
async def test_hostile_request_is_refused_as_json(
    client: httpx.AsyncClient, catalog: None, hostile: Hostile
) -> None:
    before = await snapshot()

    response = await client.request(
        hostile.method,
        "/graphql",
        content=hostile.content,
        headers=hostile.headers,
        params=hostile.params,
    )

    assert_json_error(response, hostile.status, hostile.code)
    assert await snapshot() == before


async def test_get_mutation_is_405_with_allow_post(
    client: httpx.AsyncClient, catalog: None
) -> None:
    before = await snapshot()

    response = await client.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"accept": GRAPHQL_RESPONSE},
    )

    assert_json_error(response, 405, "BAD_REQUEST", GRAPHQL_RESPONSE)
    assert response.headers["allow"] == "POST"
    assert await snapshot() == before


async def test_other_methods_are_405_with_allow(bare_client: httpx.AsyncClient) -> None:
    response = await bare_client.request("PATCH", "/graphql", json={"query": QUERY})

    assert_json_error(response, 405, "BAD_REQUEST")
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{", None, "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": None}, "BAD_USER_INPUT"),
        ("query($b: Boolean!) { __typename @skip(if: $b) }", {"b": 2**40}, "BAD_USER_INPUT"),
        (
            "query($n: Int) { products(first: 1) { edges { node { reviews(last: $n) "
            "{ totalCount } } } } }",
            {"n": 2**40},
            "QUERY_TOO_COMPLEX",
        ),
        ("{ products(first: " + "9" * 5000 + ") { totalCount } }", None, "QUERY_TOO_COMPLEX"),
        (
            "{ products(filter: " + "[" * 400 + "]" * 400 + ") { totalCount } }",
            None,
            "GRAPHQL_PARSE_FAILED",
        ),
    ],
    ids=[
        "parse",
        "validation",
        "null-for-non-null",
        "number-for-boolean",
        "int-beyond-32-bits-as-page-size",
        "huge-integer-literal",
        "deep-list-literal",
    ],
)
@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
async def test_request_errors_have_no_data(
    bare_client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None,
    code: str,
    accept: str,
    status: int,
) -> None:
    """Parse, validation, variable and limit failures: 200 under application/json, 400
    under application/graphql-response+json, as the spec asks; never a `data` entry."""
    response = await bare_client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"accept": accept}
    )

    assert_json_error(response, status, code, accept)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"text/html, {GRAPHQL_RESPONSE};q=0.9, */*;q=0.8", GRAPHQL_RESPONSE),
    ],
)
async def test_response_media_type_follows_accept(
    bare_client: httpx.AsyncClient, accept: str | None, media_type: str
) -> None:
    headers = {"accept": accept} if accept else {}
    response = await bare_client.post("/graphql", json={"query": QUERY}, headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_operation_name_picks_one_of_several(bare_client: httpx.AsyncClient) -> None:
    document = "query A { a: __typename } query B { b: __typename }"
    for name, expected in (("A", {"a": "Query"}), ("B", {"b": "Query"})):
        response = await bare_client.post(
            "/graphql", json={"query": document, "operationName": name}, headers=POST_JSON
        )
        assert response.status_code == 200
        assert response.json() == {"data": expected}


async def test_get_runs_queries_with_json_variables(
    client: httpx.AsyncClient, catalog: None
) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query Q($n: Int) { products(first: $n) { edges { node { sku } } } }",
            "variables": json.dumps({"n": 1}),
            "operationName": "Q",
        },
        headers={"accept": "application/json"},
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"products": {"edges": [{"node": {"sku": "SKU-0000"}}]}}}


async def test_field_errors_keep_data_and_status_200(
    client: httpx.AsyncClient, catalog: None
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": '{ products(first: 2, after: "not-a-cursor") { totalCount } }'},
        headers={"accept": GRAPHQL_RESPONSE},
    )

    assert response.status_code == 200
    body = response.json()
    assert "data" in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["path"] == ["products"]


@pytest.mark.parametrize(
    "send_length", [True, False], ids=["declared-length", "streamed-without-length"]
)
async def test_body_over_the_limit_is_413(
    client: httpx.AsyncClient, catalog: None, send_length: bool
) -> None:
    before = await snapshot()
    payload = body({"query": QUERY, "variables": {"padding": "x" * BODY_LIMIT}})

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 4096):
            yield payload[start : start + 4096]

    response = await client.post(
        "/graphql",
        content=payload if send_length else stream(),
        headers=POST_JSON,
    )

    assert_json_error(response, 413, "BAD_REQUEST")
    assert await snapshot() == before


async def test_request_id_is_kept_when_sane_and_made_otherwise(
    bare_client: httpx.AsyncClient,
) -> None:
    kept = await bare_client.post(
        "/graphql", json={"query": QUERY}, headers={"x-request-id": "checkout-42.a_b:c"}
    )
    made = await bare_client.post("/graphql", json={"query": QUERY})
    replaced = await bare_client.post(
        "/graphql", json={"query": QUERY}, headers={"x-request-id": "<script>" + "x" * 200}
    )

    assert kept.headers["x-request-id"] == "checkout-42.a_b:c"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


async def test_refusals_carry_the_request_id_too(bare_client: httpx.AsyncClient) -> None:
    response = await bare_client.post(
        "/graphql", content=b"nope", headers={**POST_JSON, "x-request-id": "req-1"}
    )

    assert response.status_code == 400
    assert response.headers["x-request-id"] == "req-1"


async def test_access_log_has_one_line_per_request(
    bare_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="storefront.access"):
        await bare_client.post("/graphql", json={"query": QUERY}, headers={"x-request-id": "log-1"})
        await bare_client.put("/graphql", headers={"x-request-id": "log-2"})

    lines = [record.getMessage() for record in caplog.records if record.name == "storefront.access"]
    assert len(lines) == 2
    assert re.match(r"POST /graphql 200 \d+\.\dms request_id=log-1 client=127\.0\.0\.1 ", lines[0])
    assert re.match(r"PUT /graphql 405 \d+\.\dms request_id=log-2 client=127\.0\.0\.1 ", lines[1])


async def test_cors_allows_the_configured_origin_only(bare_client: httpx.AsyncClient) -> None:
    preflight = await bare_client.options(
        "/graphql",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    allowed = await bare_client.post("/graphql", json={"query": QUERY}, headers={"origin": ORIGIN})
    other = await bare_client.post(
        "/graphql", json={"query": QUERY}, headers={"origin": "https://evil.example"}
    )

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


@asynccontextmanager
async def unreachable_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A Tortoise context, for this task only, on a database that cannot be reached."""
    if kind == "closed-port":
        url = f"postgres://postgres@127.0.0.1:{free_port()}/storefront"
    elif kind == "missing-sqlite-directory":
        url = f"sqlite://{tmp_path / 'missing' / 'storefront.sqlite3'}"
    else:
        require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not reachable")
        url = await _dropped_database_url(f"storefront_dropped_{os.getpid()}")
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url))
        if kind == "dropped-database":
            await _admin(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        yield url


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _dropped_database_url(name: str) -> str:
    """A migrated database, about to be dropped under the service's feet."""
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    url = f"{POSTGRES_ADMIN_URL}/{name}"
    await apply_migrations(url)
    return url


@pytest.mark.parametrize("kind", ["closed-port", "missing-sqlite-directory", "dropped-database"])
@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_unreachable_database_is_service_unavailable(
    kind: str, accept: str, tmp_path: Path
) -> None:
    """A field error (the query was fine): status 200 under both media types, `data` null."""
    async with unreachable_database(kind, tmp_path) as url:
        app = create_app(replace(Settings(), database_url=url), manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post(
                "/graphql", json={"query": LISTING}, headers={"accept": accept}
            )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(accept)
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
    assert body["errors"][0]["message"] == (
        "The service is temporarily unavailable; try again shortly"
    )


@pytest.fixture
def audit_tool() -> str:
    node = shutil.which("node")
    require_service(node is not None, "Node.js is not installed")
    require_service(
        (NODE_DIR / "node_modules" / "graphql-http").is_dir(),
        "npm packages missing: run npm ci in tests/node",
    )
    assert node is not None
    return node


@pytest.fixture
async def protocol_server(tmp_path: Path) -> AsyncIterator[str]:
    """The real service under uvicorn, once, on a SQLite file of its own: what it is
    audited for (the protocol) does not depend on the database."""
    url = f"sqlite://{tmp_path / 'audit.sqlite3'}"
    await apply_migrations(url)
    process, base = start_server(url, tmp_path)
    try:
        wait_healthy(process, base)
        yield base
    finally:
        stop_server(process)


@pytest.mark.node
def test_graphql_http_audit_passes(protocol_server: str, audit_tool: str) -> None:
    """Every audit of graphql-http's serverAudits, MUST and SHOULD (and MAY) alike."""
    finished = subprocess.run(
        [audit_tool, "audit.mjs", f"{protocol_server}/graphql"],
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    results = [json.loads(line) for line in finished.stdout.splitlines()]
    failed = [result for result in results if result["status"] != "ok"]

    assert len(results) > 50, finished.stdout
    assert not failed, json.dumps(failed, indent=2)

"""Persisted queries as Apollo Client's persisted-queries link and Relay see them: APQ over
POST and GET, Cache-Control for CDNs, the Redis store shared by instances and surviving an
outage, the allow-list filled by `storefront register-operations`, and `off`.

Protocol checks run without a database; the allow-list runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from prometheus_client import REGISTRY

from models.persisted import PersistedOperation
from schema import schema
from server.app import create_app
from server.graphql_app import GraphQLApp
from server.persisted import ManifestError, MemoryQueryStore, read_manifest
from server.settings import ConfigError, Settings, load_settings
from tests.conftest import REDIS_URL, StatementCounter, free_port, port_open, require_service
from tests.test_cli_accounts import assert_refused, storefront

GRAPHQL_RESPONSE = "application/graphql-response+json"
NOT_FOUND = {
    "message": "PersistedQueryNotFound",
    "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(query: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256(query)}}


def unique_query() -> str:
    """A document no store has seen (stores outlive tests: Redis, the allow-list cache)."""
    return f"query Q{uuid.uuid4().hex} {{ __typename }}"


def view(app: Any) -> GraphQLApp:
    endpoint = next(route.endpoint for route in app.routes if route.path == "/graphql")
    assert isinstance(endpoint, GraphQLApp)
    return endpoint


async def client_for(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await view(app).persisted.close()


@pytest.fixture
async def apq() -> AsyncIterator[httpx.AsyncClient]:
    """The app with default settings (APQ in process) and no database."""
    async for http in client_for(Settings()):
        yield http


async def post(
    http: httpx.AsyncClient, body: dict[str, Any], **headers: str
) -> tuple[httpx.Response, dict[str, Any]]:
    response = await http.post("/graphql", json=body, headers=headers)
    return response, response.json()


async def get(
    http: httpx.AsyncClient, params: dict[str, Any], **headers: str
) -> tuple[httpx.Response, dict[str, Any]]:
    encoded = {
        name: json.dumps(value) if isinstance(value, dict) else value
        for name, value in params.items()
    }
    response = await http.get("/graphql", params=encoded, headers=headers)
    return response, response.json()


# Automatic persisted queries (PERSISTED_QUERIES=auto, the default)


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_unknown_hash_asks_for_the_document_as_apollo_server_does(
    apq: httpx.AsyncClient, accept: str
) -> None:
    query = unique_query()

    response, body = await post(apq, {"extensions": persisted(query)}, accept=accept)

    assert response.status_code == 200
    assert body == {"errors": [NOT_FOUND]}


async def test_miss_register_then_hit_over_post_and_get(apq: httpx.AsyncClient) -> None:
    query = unique_query()
    hash_only = {"extensions": persisted(query)}

    _, missed = await post(apq, hash_only)
    _, registered = await post(apq, {"query": query, **hash_only})
    _, by_post = await post(apq, hash_only)
    by_get_response, by_get = await get(apq, hash_only)

    assert missed == {"errors": [NOT_FOUND]}
    assert registered == by_post == by_get == {"data": {"__typename": "Query"}}
    assert by_get_response.status_code == 200


async def test_get_hash_and_query_registers_too(apq: httpx.AsyncClient) -> None:
    query = unique_query()

    _, registered = await get(apq, {"query": query, "extensions": persisted(query)})
    _, hit = await post(apq, {"extensions": persisted(query)})

    assert registered == hit == {"data": {"__typename": "Query"}}


async def test_variables_and_operation_name_go_with_the_hash(apq: httpx.AsyncClient) -> None:
    query = "query A($skip: Boolean!) { a: __typename @skip(if: $skip) } query B { b: __typename }"
    await post(apq, {"query": query, "operationName": "B", "extensions": persisted(query)})

    _, body = await get(
        apq,
        {"extensions": persisted(query), "operationName": "A", "variables": {"skip": False}},
    )

    assert body == {"data": {"a": "Query"}}


async def test_hash_that_does_not_match_the_query_is_refused_and_not_stored(
    apq: httpx.AsyncClient,
) -> None:
    query, other = unique_query(), unique_query()

    response, body = await post(apq, {"query": other, "extensions": persisted(query)})
    _, afterwards = await post(apq, {"extensions": persisted(query)})

    assert response.status_code == 400
    assert body == {
        "errors": [
            {
                "message": "provided sha does not match query",
                "extensions": {"code": "BAD_USER_INPUT"},
            }
        ]
    }
    assert afterwards == {"errors": [NOT_FOUND]}


async def test_invalid_document_is_answered_but_not_stored(apq: httpx.AsyncClient) -> None:
    query = f"query Q{uuid.uuid4().hex} {{ noSuchField }}"

    _, body = await post(apq, {"query": query, "extensions": persisted(query)})
    _, afterwards = await post(apq, {"extensions": persisted(query)})

    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert afterwards == {"errors": [NOT_FOUND]}


@pytest.mark.parametrize(
    "extension",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": sha256("{ __typename }")}},
        {"persistedQuery": {"sha256Hash": sha256("{ __typename }")}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "yes"},
    ],
    ids=["version-2", "no-version", "malformed-hash", "no-hash", "not-an-object"],
)
async def test_unsupported_version_or_malformed_extension_is_refused(
    apq: httpx.AsyncClient, extension: dict[str, Any]
) -> None:
    response, body = await post(apq, {"extensions": extension})

    assert response.status_code == 400
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_get_by_hash_never_runs_a_mutation(apq: httpx.AsyncClient) -> None:
    query = f"mutation M{uuid.uuid4().hex} {{ __typename }}"
    _, registered = await post(apq, {"query": query, "extensions": persisted(query)})

    response, body = await get(apq, {"extensions": persisted(query)})

    assert registered == {"data": {"__typename": "Mutation"}}
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "data" not in body


# Cache-Control


async def test_cache_control_follows_the_setting_for_anonymous_gets_only() -> None:
    settings = replace(Settings(), get_cache_control="public, max-age=300, s-maxage=600")
    query = unique_query()
    async for http in client_for(settings):
        await post(http, {"query": query, "extensions": persisted(query)})

        anonymous, _ = await get(http, {"extensions": persisted(query)})
        with_token, _ = await get(
            http, {"extensions": persisted(query)}, authorization="Bearer anything"
        )
        plain_get, _ = await get(http, {"query": "{ __typename }"})
        by_post, _ = await post(http, {"extensions": persisted(query)})

    assert anonymous.headers["cache-control"] == "public, max-age=300, s-maxage=600"
    assert {"accept", "authorization"} <= {
        value.strip().lower() for value in anonymous.headers["vary"].split(",")
    }
    assert plain_get.headers["cache-control"] == "public, max-age=300, s-maxage=600"
    assert with_token.status_code == 200
    assert with_token.headers["cache-control"] == "private, no-store"
    assert "cache-control" not in by_post.headers


@pytest.mark.parametrize(
    "params",
    [
        {"extensions": persisted("{ never sent }")},
        {"query": "{ noSuchField }"},
        {"query": "mutation { __typename }"},
    ],
    ids=["persisted-query-not-found", "validation-error", "get-mutation"],
)
async def test_get_answers_with_errors_are_not_cacheable(
    apq: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response, body = await get(apq, params)

    assert body["errors"]
    assert response.headers["cache-control"] == "private, no-store"


# The in-process store


async def test_memory_store_is_bounded_by_entries_and_by_bytes() -> None:
    by_entries = MemoryQueryStore(max_entries=3, max_bytes=10_000)
    for number in range(5):
        await by_entries.put(f"h{number}", "x" * 10)
    await by_entries.get("h2")  # recently used: kept
    await by_entries.put("h5", "x" * 10)

    by_bytes = MemoryQueryStore(max_entries=100, max_bytes=100)
    for number in range(5):
        await by_bytes.put(f"h{number}", "é" * 20)  # 40 bytes each
    await by_bytes.put("huge", "x" * 101)

    assert len(by_entries.documents) == 3
    assert [await by_entries.get(f"h{n}") is not None for n in range(6)] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]
    assert len(by_bytes.documents) == 2
    assert by_bytes.documents.bytes == 80
    assert await by_bytes.get("h4") is not None
    assert await by_bytes.get("huge") is None


async def test_instances_without_redis_do_not_share_documents() -> None:
    query = unique_query()
    async for first in client_for(Settings()):
        async for second in client_for(Settings()):
            await post(first, {"query": query, "extensions": persisted(query)})
            _, on_first = await post(first, {"extensions": persisted(query)})
            _, on_second = await post(second, {"extensions": persisted(query)})

    assert on_first == {"data": {"__typename": "Query"}}
    assert on_second == {"errors": [NOT_FOUND]}


# Redis


async def test_redis_store_is_shared_by_instances_with_a_ttl() -> None:
    require_service(port_open("127.0.0.1", 6379), "Redis is not reachable on 127.0.0.1:6379")
    settings = replace(Settings(), redis_url=REDIS_URL, persisted_query_ttl=120)
    query = unique_query()
    async for first in client_for(settings):
        async for second in client_for(settings):
            _, before = await post(second, {"extensions": persisted(query)})
            await post(first, {"query": query, "extensions": persisted(query)})
            _, by_post = await post(second, {"extensions": persisted(query)})
            _, by_get = await get(second, {"extensions": persisted(query)})

    inspector = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        ttl = await inspector.ttl(f"storefront:apq:{sha256(query)}")
    finally:
        await inspector.aclose()
    assert before == {"errors": [NOT_FOUND]}
    assert by_post == by_get == {"data": {"__typename": "Query"}}
    assert 0 < ttl <= 120


def store_failure_count() -> float:
    return REGISTRY.get_sample_value("storefront_persisted_query_store_failures_total") or 0.0


class PrivateRedis:
    """A redis-server of this test's own, which the test may stop and start."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail("redis-server did not start within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    require_service(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_redis_outage_keeps_full_queries_working_and_apq_recovers(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replace(Settings(), redis_url=private_redis.url)
    query = unique_query()
    failures_before = store_failure_count()
    async for http in client_for(settings):
        await post(http, {"query": query, "extensions": persisted(query)})
        _, before_outage = await post(http, {"extensions": persisted(query)})

        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="storefront.persisted"):
            started = time.monotonic()
            _, full = await post(http, {"query": query, "extensions": persisted(query)})
            _, plain = await post(http, {"query": "{ __typename }"})
            _, hash_only = await post(http, {"extensions": persisted(query)})
            _, hash_only_by_get = await get(http, {"extensions": persisted(query)})
            during_outage = time.monotonic() - started

            private_redis.start()  # empty again: documents must be registered anew
            _, after_restart = await post(http, {"extensions": persisted(query)})
            await post(http, {"query": query, "extensions": persisted(query)})
            _, recovered = await post(http, {"extensions": persisted(query)})

    assert before_outage == {"data": {"__typename": "Query"}}
    assert full == plain == {"data": {"__typename": "Query"}}
    assert hash_only == hash_only_by_get == after_restart == {"errors": [NOT_FOUND]}
    assert recovered == {"data": {"__typename": "Query"}}
    # Three failed calls (the put of the full query, two gets), counted each, logged once.
    assert store_failure_count() - failures_before == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "storefront.persisted"]
    assert [message.split(" (")[0] for message in messages] == [
        "persisted queries: Redis failed",
        "persisted queries: Redis answers again",
    ]
    assert during_outage < 20  # a deadline, not a hang (generous: this is no benchmark)


# PERSISTED_QUERIES=off


async def test_off_refuses_persisted_queries_as_not_supported() -> None:
    query = "{ __typename }"
    async for http in client_for(replace(Settings(), persisted_queries="off")):
        response, by_hash = await post(http, {"extensions": persisted(query)})
        _, with_query = await post(http, {"query": query, "extensions": persisted(query)})
        _, by_doc_id = await post(http, {"doc_id": "abc"})
        _, plain = await post(http, {"query": query})

    expected = {
        "errors": [
            {
                "message": "PersistedQueryNotSupported",
                "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
            }
        ]
    }
    assert response.status_code == 200
    assert by_hash == with_query == by_doc_id == expected
    assert plain == {"data": {"__typename": "Query"}}


def test_persisted_query_settings_are_checked() -> None:
    settings = load_settings(
        {"PERSISTED_QUERIES": "Only", "PERSISTED_QUERY_TTL": "60", "GET_CACHE_CONTROL": "no-store"},
        env_file=None,
    )
    assert (settings.persisted_queries, settings.persisted_query_ttl) == ("only", 60)
    assert settings.get_cache_control == "no-store"
    for name, value in [
        ("PERSISTED_QUERIES", "sometimes"),
        ("PERSISTED_QUERY_TTL", "0"),
        ("GET_CACHE_CONTROL", "public\r\nSet-Cookie: x=1"),
    ]:
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value}, env_file=None)


# The allow-list (PERSISTED_QUERIES=only), filled by `storefront register-operations`

LISTING = "query Listing { products(first: 2) { totalCount } }"
TYPENAME = "query Typename { __typename }"
RELAY_ID = "3be4abb81fa595e25eb725b2c6a87508"  # relay-compiler's ids are MD5s by default
RELAY_QUERY = "query RelayTypename {\n  __typename\n}\n"


def apollo_manifest(*bodies: str) -> dict[str, Any]:
    """What `generate-persisted-query-manifest` writes."""
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(body), "body": body, "name": body.split()[1], "type": "query"}
            for body in bodies
        ],
    }


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return str(path)


def register(db: str, tmp_path: Path, *manifests: object) -> subprocess.CompletedProcess[str]:
    """`storefront register-operations` on the manifests, as an operator runs it."""
    files = [
        write(tmp_path, f"manifest-{n}.json", manifest) for n, manifest in enumerate(manifests)
    ]
    return storefront(db, tmp_path, "register-operations", *files)


@pytest.fixture
async def allow_list(db: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An Apollo and a Relay manifest registered with the real command; the app in `only`."""
    result = register(db, tmp_path, apollo_manifest(LISTING, TYPENAME), {RELAY_ID: RELAY_QUERY})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"registered": 3, "unchanged": 0}
    settings = replace(Settings(), database_url=db, persisted_queries="only")
    async for http in client_for(settings):
        yield http


async def test_register_operations_stores_both_manifest_formats(
    allow_list: httpx.AsyncClient, db: str, tmp_path: Path
) -> None:
    again = storefront(
        db,
        tmp_path,
        "register-operations",
        write(tmp_path, "again.json", apollo_manifest(TYPENAME)),
    )
    rows = (
        await PersistedOperation.all().order_by("name").values_list("id", "name", "operation_type")
    )

    assert json.loads(again.stdout) == {"registered": 0, "unchanged": 1}
    assert rows == [
        (sha256(LISTING), "Listing", "query"),
        (RELAY_ID, "RelayTypename", "query"),
        (sha256(TYPENAME), "Typename", "query"),
    ]


async def test_allow_list_runs_registered_operations_by_apollo_and_relay_ids(
    allow_list: httpx.AsyncClient,
) -> None:
    _, apollo_post = await post(allow_list, {"extensions": persisted(TYPENAME)})
    _, apollo_get = await get(allow_list, {"extensions": persisted(TYPENAME)})
    _, relay_doc_id = await post(allow_list, {"doc_id": RELAY_ID})
    _, relay_id_by_get = await get(allow_list, {"id": RELAY_ID})
    _, full_text = await post(allow_list, {"query": TYPENAME})
    _, listing = await post(allow_list, {"extensions": persisted(LISTING)})

    assert apollo_post == apollo_get == full_text == {"data": {"__typename": "Query"}}
    assert relay_doc_id == relay_id_by_get == {"data": {"__typename": "Query"}}
    assert listing == {"data": {"products": {"totalCount": 0}}}


async def test_allow_list_refuses_everything_else(allow_list: httpx.AsyncClient) -> None:
    other = "query Other { products(first: 1) { totalCount } }"

    arbitrary, arbitrary_body = await post(allow_list, {"query": other})
    with_hash, with_hash_body = await post(
        allow_list, {"query": other, "extensions": persisted(other)}
    )
    _, unknown_hash = await post(allow_list, {"extensions": persisted(other)})
    _, unknown_doc_id = await post(allow_list, {"doc_id": "0" * 32})

    for response, body in [(arbitrary, arbitrary_body), (with_hash, with_hash_body)]:
        assert response.status_code == 403
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Not registered by the request either.
    assert unknown_hash == unknown_doc_id == {"errors": [NOT_FOUND]}


async def test_allow_list_lookups_cost_no_statement_after_the_first(
    allow_list: httpx.AsyncClient, sql: StatementCounter
) -> None:
    _, first = await post(allow_list, {"extensions": persisted(TYPENAME)})
    first_count = sql.count
    sql.reset()
    for _ in range(3):
        await post(allow_list, {"extensions": persisted(TYPENAME)})
        await post(allow_list, {"doc_id": RELAY_ID})
        await post(allow_list, {"doc_id": "f" * 32})

    assert first == {"data": {"__typename": "Query"}}
    assert first_count == 1
    assert sql.count == 2  # the Relay id and the unknown id, once each


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (apollo_manifest("query Broken { noSuchField }"), "Cannot query field 'noSuchField'"),
        (
            {**apollo_manifest(TYPENAME), "operations": [{"id": "0" * 64, "body": TYPENAME}]},
            "the id is not the SHA-256 of its body",
        ),
        ({**apollo_manifest(TYPENAME), "version": 2}, "unsupported manifest version 2"),
        ({"abc": "query A { __typename } query B { __typename }"}, "exactly one operation"),
        ({"abc": "{ __typename"}, "Syntax Error"),
        ({"format": "something-else"}, "expected"),
        ([TYPENAME], "expected"),
        (
            {
                **apollo_manifest(TYPENAME),
                "operations": [{**apollo_manifest(TYPENAME)["operations"][0], "type": "mutation"}],
            },
            "declared as mutation",
        ),
    ],
    ids=[
        "invalid-document",
        "apollo-id-mismatch",
        "apollo-version",
        "two-operations",
        "syntax-error",
        "unknown-format",
        "not-an-object",
        "wrong-type",
    ],
)
def test_manifests_are_checked_against_the_schema(manifest: object, message: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        read_manifest(json.dumps(manifest).encode(), schema._schema)


async def test_register_operations_refuses_a_bad_manifest_whole(
    allow_list: httpx.AsyncClient, db: str, tmp_path: Path
) -> None:
    good = apollo_manifest("query Good { __typename }")
    broken = apollo_manifest("query Broken { noSuchField }")

    refused = register(db, tmp_path, good, broken)
    changed = register(db, tmp_path, good, {RELAY_ID: "query Changed { __typename }"})

    assert_refused(refused, "Cannot query field 'noSuchField'")
    assert_refused(changed, "already registered with another body")
    assert await PersistedOperation.filter(name="Good").count() == 0
    assert await PersistedOperation.all().count() == 3


async def test_register_operations_needs_a_readable_file(tmp_path: Path) -> None:
    result = storefront(
        f"sqlite://{tmp_path / 'unused.sqlite3'}",
        tmp_path,
        "register-operations",
        str(tmp_path / "missing.json"),
    )

    assert_refused(result, "missing.json")


async def test_auto_mode_also_runs_registered_operations_by_relay_id(
    allow_list: httpx.AsyncClient, db: str
) -> None:
    async for http in client_for(replace(Settings(), database_url=db)):
        _, body = await post(http, {"doc_id": RELAY_ID})

    assert body == {"data": {"__typename": "Query"}}

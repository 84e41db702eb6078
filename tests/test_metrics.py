"""`/metrics`: scraped over HTTP and parsed as Prometheus would, in one process and with
several workers; the example Prometheus files use metrics that exist."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from server import metrics as server_metrics
from server.settings import Settings
from tests.conftest import free_port, graphql, stop_server, wait_healthy
from tests.factories import make_catalog, make_user
from tests.oauth import browser_tokens, http_client, make_app, make_client

DEPLOY = Path(__file__).parent.parent / "deploy" / "prometheus"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

LISTING = """
query Listing {
  products(first: 5) { edges { node { name category { name } reviews(first: 2) {
    edges { node { rating author { name } } } } } } }
}
"""
CREATE = """
mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) { product { sku } userErrors { code } }
}
"""


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def increase(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def staff_token(client: httpx.AsyncClient) -> str:
    await make_user("staff@example.com", staff=True)
    web = await make_client("catalog:write")
    tokens = await browser_tokens(client, web.client_id, "staff@example.com", scope="catalog:write")
    token: str = tokens["access_token"]
    return token


async def test_a_listing_a_mutation_and_errors_show_in_the_metrics(
    client: httpx.AsyncClient, db: str
) -> None:
    await make_catalog(4, reviews_per_product=2)
    token = await staff_token(client)
    category = (await graphql(client, "{ categories(first: 1) { edges { node { id } } } }"))[
        "data"
    ]["categories"]["edges"][0]["node"]["id"]
    before = await scrape(client)

    listing = await graphql(client, LISTING)
    created = await graphql(
        client,
        CREATE,
        {
            "input": {
                "sku": "M-1",
                "name": "Mug",
                "price": "3.00",
                "stock": 1,
                "categoryId": category,
            }
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    invalid_token = await graphql(client, "{ me { name } }", headers={"Authorization": "Bearer x"})
    await graphql(client, "query Broken { noSuchField }")
    after = await scrape(client)

    assert "errors" not in listing, listing
    assert "errors" not in created, created
    assert invalid_token["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    requests = "storefront_graphql_requests_total"
    assert increase(before, after, requests, operation="Listing", type="query", outcome="success")
    assert (
        increase(before, after, requests, operation="Create", type="mutation", outcome="success")
        == 1
    )
    assert increase(before, after, requests, operation="anonymous", type="query", outcome="error")
    # A document that does not validate lends its name to no label.
    assert increase(before, after, requests, operation="invalid", type="query", outcome="rejected")
    assert not value(after, requests, operation="Broken", type="query", outcome="rejected")
    errors = "storefront_graphql_errors_total"
    assert increase(before, after, errors, code="UNAUTHENTICATED") == 1
    assert increase(before, after, errors, code="GRAPHQL_VALIDATION_FAILED") == 1
    duration = "storefront_graphql_request_duration_seconds_count"
    assert increase(before, after, duration, operation="Listing") == 1
    statements = "storefront_sql_statements_per_request"
    assert increase(before, after, f"{statements}_count") == 4
    # The listing's few statements, the mutation's and the token check's.
    assert increase(before, after, f"{statements}_sum") >= 4
    batches = "storefront_dataloader_batch_size"
    assert increase(before, after, f"{batches}_count", loader="load_users") >= 1
    assert increase(before, after, f"{batches}_sum", loader="load_users") >= 1
    validations = "storefront_token_validations_total"
    assert increase(before, after, validations, outcome="valid") == 1
    assert increase(before, after, validations, outcome="invalid") == 1
    assert value(after, "storefront_database_up") == 1
    if db.startswith("postgres"):
        assert value(after, "storefront_db_pool_size") >= 1
        assert value(after, "storefront_db_pool_max_size") >= value(
            after, "storefront_db_pool_size"
        )
        assert ("storefront_db_pool_in_use", frozenset()) in after


async def test_operation_names_are_capped(
    bare_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_metrics, "MAX_OPERATION_NAMES", 2)
    monkeypatch.setattr(server_metrics, "_operation_names", set())
    before = await scrape(bare_client)
    for name in ("First", "Second", "Third", "Fourth", "First"):
        await graphql(bare_client, f"query {name} {{ __typename }}")
    await graphql(bare_client, "{ __typename }")
    after = await scrape(bare_client)

    def served(operation: str) -> float:
        return increase(
            before,
            after,
            "storefront_graphql_requests_total",
            operation=operation,
            type="query",
            outcome="success",
        )

    assert (served("First"), served("Second"), served("other"), served("anonymous")) == (2, 1, 2, 1)
    assert not value(after, "storefront_graphql_requests_total", operation="Third")


async def test_metrics_token_is_required_when_set() -> None:
    app = make_app(replace(Settings(), metrics_token="scrape-secret"))
    async with http_client(app) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secreT"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert right.status_code == 200
    assert "storefront_graphql_requests_total" in right.text


async def test_the_example_alerts_and_scrape_config_use_metrics_that_exist(
    bare_client: httpx.AsyncClient,
) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    await graphql(bare_client, "{ __typename }")
    exposition = (await bare_client.get("/metrics")).text
    families = {family.name for family in text_string_to_metric_families(exposition)}

    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert "alerts.yml" in config["rule_files"][0]
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(expressions) >= 3
    used = set(re.findall(r"storefront_[a-z_]+", " ".join(expressions)))
    assert used
    for name in used:
        assert re.sub(r"_(total|bucket|count|sum)$", "", name) in families, name


# With several workers


def serve(database_url: str, folder: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=workdir,
    )
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path / 'workers.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, check=True, timeout=60)
    return url


def ping_all(base: str, count: int) -> None:
    for _ in range(count):
        # A new connection each time, so that both workers get some.
        response = httpx.post(f"{base}/graphql", json={"query": "query Ping { __typename }"})
        assert response.status_code == 200


def pings(base: str) -> float:
    samples = parse(httpx.get(f"{base}/metrics", timeout=10).text)
    return value(
        samples,
        "storefront_graphql_requests_total",
        operation="Ping",
        type="query",
        outcome="success",
    )


def test_several_workers_are_summed_and_a_restart_starts_from_zero(
    sqlite_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"left over from an earlier run")

    process, base = serve(sqlite_url, folder, tmp_path)
    try:
        wait_healthy(process, base)
        ping_all(base, 30)
        first = [pings(base) for _ in range(4)]
        writers = {re.sub(r"\D", "", path.name) for path in folder.glob("counter_*.db")}
    finally:
        stop_server(process)
    process, base = serve(sqlite_url, folder, tmp_path)
    try:
        wait_healthy(process, base)
        ping_all(base, 3)
        second = pings(base)
    finally:
        stop_server(process)

    assert first == [30.0] * 4  # whichever worker answered the scrape
    assert len(writers) == 2, writers  # both workers served and wrote their values
    assert second == 3.0


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_open_websocket_connections_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    def no_database(name: str) -> None:
        raise RuntimeError("no database in this test")

    # The test client runs the app on an event loop of its own, where the session's
    # database connection must not be used.
    monkeypatch.setattr(server_metrics, "get_connection", no_database)

    def connections(http: TestClient) -> float:
        return value(parse(http.get("/metrics").text), "storefront_websocket_connections")

    http = TestClient(make_app(Settings()))
    before = connections(http)
    with http.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as socket:
        socket.send_json({"type": "connection_init"})
        assert json.loads(socket.receive_text())["type"] == "connection_ack"
        during = connections(http)
    after = connections(http)

    assert (during - before, after - before) == (1, 0)


async def test_a_database_that_does_not_answer_shows_as_down(
    bare_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Hanging:
        async def execute_query(self, query: str) -> None:
            await asyncio.sleep(60)

    monkeypatch.setattr(server_metrics, "DATABASE_CHECK_SECONDS", 0.1)
    monkeypatch.setattr(server_metrics, "get_connection", lambda name: Hanging())

    samples = await scrape(bare_client)

    assert value(samples, "storefront_database_up") == 0

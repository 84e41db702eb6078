"""Plans of the catalog's queries: indexes, never a scan of a whole table.

A seeded catalog of moderate size, analyzed; each query runs through HTTP while its
statements are recorded, then each statement is explained with its own values. A
sequential scan of `product` or `review` would grow with the catalog (issue 11). On
SQLite, which searches without an index by design (resolvers.search), the listings and
pages must still read through indexes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tortoise.connection import get_connection

from resolvers.pagination import encode_cursor
from server.seed import SeedSizes, seed_database
from tests.conftest import graphql
from tests.test_catalog import PAGE

# Large enough that PostgreSQL prefers an index wherever one serves.
SIZES = SeedSizes(categories=40, products=20_000, users=2_000, reviews=40_000, orders=0)
LISTING = """query($filter: ProductFilter, $orderBy: ProductOrder, $after: String) {
  products(first: 20, filter: $filter, orderBy: $orderBy, after: $after) {
    totalCount edges { node { name category { name } reviews(first: 5) { edges { node {
      rating author { name } } } } } } } }"""
TREE = """{ categories(first: 20, rootsOnly: true) { edges { node { name
  children(first: 10) { edges { node { name products(first: 5) { edges { node { name } } } } } }
} } } }"""
SCANNED = {"product", "review"}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Every statement sent through the default connection, with its values."""
    connection = get_connection("default")
    statements: list[tuple[str, list[Any]]] = []
    execute = connection.execute_query

    async def recording(query: str, values: list[Any] | None = None) -> Any:
        statements.append((query, list(values or [])))
        return await execute(query, values)

    monkeypatch.setattr(connection, "execute_query", recording)
    return statements


def postgres_scans(plan: dict[str, Any], limited: bool = False) -> Iterator[str]:
    """Tables read whole: a sequential scan, unless it filters nothing under a LIMIT
    (a bounded count reads its first rows, whatever they are)."""
    kind = plan.get("Node Type")
    if kind == "Seq Scan" and not (limited and "Filter" not in plan):
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from postgres_scans(child, limited or kind == "Limit")


async def scanned_tables(statement: str, values: list[Any]) -> set[str]:
    """The tables a statement reads whole, by the database's own plan."""
    connection = get_connection("default")
    if connection.capabilities.dialect == "postgres":
        _, rows = await connection.execute_query(f"EXPLAIN (FORMAT JSON) {statement}", values)
        plan = rows[0][0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return set(postgres_scans(plan[0]["Plan"]))
    _, rows = await connection.execute_query(f"EXPLAIN QUERY PLAN {statement}", values)
    # "SCAN product" reads the table; "SCAN product USING INDEX ..." walks an index in
    # order and stops at the page's end; "SEARCH ..." seeks.
    return {
        detail.split()[1]
        for detail in (row[3] for row in rows)
        if detail.startswith("SCAN ") and " USING " not in detail
    }


SEARCHES = {"search", "search by prefix", "search by relevance", "search for nothing"}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "listing by name": (LISTING, {}),
    "listing by price, descending": (
        LISTING,
        {"orderBy": {"field": "PRICE", "direction": "DESC"}},
    ),
    "listing by rating": (LISTING, {"orderBy": {"field": "AVERAGE_RATING", "direction": "DESC"}}),
    "listing by date": (LISTING, {"orderBy": {"field": "CREATED_AT", "direction": "ASC"}}),
    "search": (LISTING, {"filter": {"search": "navy"}}),
    "search by prefix": (LISTING, {"filter": {"search": "nav"}}),
    "search by relevance": (
        LISTING,
        {"filter": {"search": "navy mug"}, "orderBy": {"field": "RELEVANCE", "direction": "ASC"}},
    ),
    "search for nothing": (LISTING, {"filter": {"search": "zeppelin"}}),
    "price range in stock": (
        LISTING,
        {"filter": {"minPrice": "10", "maxPrice": "12", "inStock": True}},
    ),
    "out of stock": (LISTING, {"filter": {"inStock": False}}),
    "deep page by cursor": (
        LISTING,
        {"after": encode_cursor("products:NAME:asc", ("Navy", 10_000))},
    ),
    "deep page by price": (
        PAGE,
        {
            "first": 20,
            "orderBy": {"field": "PRICE", "direction": "ASC"},
            "after": encode_cursor("products:PRICE:asc", (5_000, 10_000)),
        },
    ),
    "category tree": (TREE, {}),
}


async def test_catalog_queries_use_indexes(
    client: httpx.AsyncClient, db: str, recorded: list[tuple[str, list[Any]]]
) -> None:
    await seed_database(SIZES, seed=1, currency="USD")
    postgres = get_connection("default").capabilities.dialect == "postgres"
    found: dict[str, list[str]] = {}
    for name, (query, variables) in CASES.items():
        recorded.clear()
        body = await graphql(client, query, variables)
        assert "errors" not in body, (name, body)
        if name in SEARCHES and not postgres:
            continue
        for statement, values in list(recorded):
            scanned = await scanned_tables(statement, values) & SCANNED
            if scanned:
                found.setdefault(name, []).append(f"{sorted(scanned)}: {statement[-220:]}")
    assert found == {}, json.dumps(found, indent=1)

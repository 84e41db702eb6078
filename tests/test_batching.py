"""SQL statement counts: a query's statements grow with its depth, never with its rows.

Each query runs at two sizes; the count must be the same at both, and equal to the
figure written here, so that any new statement is noticed. A connection's level costs
what its declaration (`schema.relations`) says; `tests/test_relations.py` walks every
relation of the schema.
"""

from __future__ import annotations

import httpx
import pytest

from benchmarks.workloads import LISTING
from schema.catalog import Category, Product
from schema.relations import PagedRelation, relations_of
from tests.conftest import StatementCounter, graphql
from tests.factories import make_catalog

CATEGORY_TREE = """
query Tree($first: Int!) {
  categories(first: 10) {
    edges { node {
      name
      parent { name }
      children(first: 5) { edges { node { name children { totalCount edges { node { name } } } } } }
      products(first: $first) { totalCount edges { node { name category { name } } } }
    } }
  }
}
"""

REVIEW_PRODUCTS = """
query ReviewProducts($first: Int!) {
  products(first: $first) {
    edges { node { reviews(first: 3) { edges { node { product { sku category { name } } } } } } }
  }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Product {
      name category { name } reviews(first: 2) { edges { node { author { name } } } }
    }
  }
}
"""


def level(cls: type, field: str, *, total: bool) -> int:
    """The statements of one level of a connection: its pages, and its counts when
    `totalCount` is asked for and its declaration does not know them."""
    relation = relations_of(cls)[field]
    assert isinstance(relation, PagedRelation)
    return 1 + (total and relation.count is None)


async def count(
    client: httpx.AsyncClient, sql: StatementCounter, query: str, variables: dict[str, object]
) -> int:
    sql.reset()
    body = await graphql(client, query, variables)
    assert "errors" not in body, body
    return sql.count


@pytest.fixture
async def catalog(db: str):  # type: ignore[no-untyped-def]
    return await make_catalog(products=24, reviews_per_product=3)


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("query", "small", "large", "statements"),
    [
        # products with their count, categories, reviews, authors
        (LISTING, {"first": 2}, {"first": 20}, 3 + level(Product, "reviews", total=False)),
        # categories, parents, children, grandchildren with their counts, products with
        # their counts, the products' categories not already loaded
        (
            CATEGORY_TREE,
            {"first": 1},
            {"first": 12},
            3
            + level(Category, "children", total=False)
            + level(Category, "children", total=True)
            + level(Category, "products", total=True),
        ),
        # products, reviews, reviews' products, their categories
        (REVIEW_PRODUCTS, {"first": 2}, {"first": 20}, 3 + level(Product, "reviews", total=False)),
    ],
    ids=["listing", "category-tree", "review-products"],
)
async def test_statements_do_not_grow_with_rows(
    client: httpx.AsyncClient,
    sql: StatementCounter,
    query: str,
    small: dict[str, object],
    large: dict[str, object],
    statements: int,
) -> None:
    assert await count(client, sql, query, small) == statements
    assert await count(client, sql, query, large) == statements


async def test_nodes_cost_one_statement_per_type_and_level(
    client: httpx.AsyncClient,
    sql: StatementCounter,
    catalog,  # type: ignore[no-untyped-def]
) -> None:
    listing = await graphql(client, "{ products(first: 20) { edges { node { id } } } }")
    ids = [edge["node"]["id"] for edge in listing["data"]["products"]["edges"]]
    # products, categories, reviews window, authors
    assert await count(client, sql, NODES, {"ids": ids[:2]}) == 4
    assert await count(client, sql, NODES, {"ids": ids}) == 4


@pytest.mark.usefixtures("catalog")
async def test_nested_lists_count_only_when_asked(
    client: httpx.AsyncClient, sql: StatementCounter
) -> None:
    query = """query($counted: Boolean!) { categories(first: 5) { edges { node {
        products(first: 2) { edges { node { name } } }
        again: products(first: 2) { totalCount @include(if: $counted) } } } } }"""
    # categories, products window
    assert await count(client, sql, query, {"counted": False}) == 2
    # and the counts, once, although the first alias was loaded without them
    assert await count(client, sql, query, {"counted": True}) == 3
    body = await graphql(client, query, {"counted": True})
    totals = [edge["node"]["again"]["totalCount"] for edge in body["data"]["categories"]["edges"]]
    assert sorted(totals) == [12, 12]

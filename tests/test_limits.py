"""Query limits as a client meets them: too big, too deep or too costly documents are
refused with QUERY_TOO_COMPLEX before they run; ordinary pages go through."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from benchmarks.workloads import DETAIL, LISTING
from schema.limits import COUNT_COST, MAX_FIELDS, MAX_TOKENS, PAGE_COST, SEARCH_FACTOR
from server.settings import Settings
from tests.conftest import StatementCounter, graphql
from tests.factories import make_catalog

NESTED_PAGES = """
query Nested($outer: Int, $inner: Int) {
  products(first: $outer) {
    edges { node { sku reviews(first: $inner) { edges { node { rating } } } } }
  }
}
"""


def fragment_fan_out(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels selections once expanded."""
    fragments = [
        f"fragment F{level} on Product {{ ...F{level + 1} ...F{level + 1} }}"
        for level in range(levels)
    ]
    fragments.append(f"fragment F{levels} on Product {{ sku }}")
    return "{ products { edges { node { ...F0 } } } }\n" + "\n".join(fragments)


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    assert "data" not in body, body
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", body
    return error


@pytest.fixture
def bare_settings(bare_settings: Settings) -> Settings:
    """The production page-size maximum, to check that a full page is within the cost."""
    return replace(bare_settings, max_page_size=100)


@pytest.fixture
async def catalog(db: str) -> None:
    await make_catalog(products=3, reviews_per_product=2)


async def test_fragment_fan_out_is_refused(bare_client: httpx.AsyncClient) -> None:
    error = refusal(await graphql(bare_client, fragment_fan_out(30)))

    assert error["extensions"]["fields"] > 2**30
    assert error["extensions"]["maximumFields"] == MAX_FIELDS


async def test_refusal_is_400_under_graphql_response_json(bare_client: httpx.AsyncClient) -> None:
    response = await bare_client.post(
        "/graphql",
        json={"query": fragment_fan_out(30)},
        headers={"accept": "application/graphql-response+json"},
    )

    assert response.status_code == 400
    refusal(response.json())


async def test_thousand_item_pages_nested_are_too_costly(bare_client: httpx.AsyncClient) -> None:
    literal = NESTED_PAGES.replace("($outer: Int, $inner: Int)", "")
    literal = literal.replace("$outer", "1000").replace("$inner", "1000")

    error = refusal(await graphql(bare_client, literal))

    assert error["extensions"]["cost"] > 1_000_000
    assert error["extensions"]["maximumCost"] == 5000


async def test_enormous_page_sizes_are_refused_as_json(bare_client: httpx.AsyncClient) -> None:
    huge = "9" * 40
    literal = NESTED_PAGES.replace("($outer: Int, $inner: Int)", "")
    literal = literal.replace("$outer", huge).replace("$inner", huge)

    response = await bare_client.post("/graphql", json={"query": literal})

    assert response.status_code == 200
    assert refusal(response.json())["extensions"]["cost"] == 10**18


async def test_page_sizes_in_variables_count(client: httpx.AsyncClient, catalog: None) -> None:
    """The same document is cheap with small pages and refused with large ones."""
    small = await graphql(client, NESTED_PAGES, {"outer": 3, "inner": 2})
    large = await graphql(client, NESTED_PAGES, {"outer": 100, "inner": 100})
    small_again = await graphql(client, NESTED_PAGES, {"outer": 3, "inner": 2})

    assert "errors" not in small, small
    assert len(small["data"]["products"]["edges"]) == 3
    refusal(large)
    assert small_again == small


async def test_absent_page_size_counts_as_the_default(bare_client: httpx.AsyncClient) -> None:
    """Without first/last a list counts as a default page (20): 20 * 20 * 20 nested."""
    query = """{ products { edges { node { category { products { edges { node {
      reviews { edges { node { rating } } } } } } } } } } }"""

    error = refusal(await graphql(bare_client, query))

    assert error["extensions"]["cost"] > 20 * 20 * 20


async def test_deep_nesting_is_refused(bare_client: httpx.AsyncClient) -> None:
    level = "category { parent { "
    query = "{ products(first: 1) { edges { node { " + level * 6 + "name" + " } }" * 6 + " } } } }"

    error = refusal(await graphql(bare_client, query))

    assert error["extensions"]["depth"] > error["extensions"]["maximumDepth"]


async def test_too_many_tokens_is_refused(bare_client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{index}: __typename" for index in range(MAX_TOKENS)) + " }"

    error = refusal(await graphql(bare_client, query))

    assert error["extensions"]["maximumTokens"] == MAX_TOKENS


async def test_too_many_aliases_are_refused(bare_client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{index}: products {{ totalCount }}" for index in range(250)) + " }"

    error = refusal(await graphql(bare_client, query))

    assert error["extensions"]["fields"] == 500


async def test_product_listing_of_a_hundred_goes_through(
    client: httpx.AsyncClient, catalog: None
) -> None:
    body = await graphql(client, LISTING, {"first": 100})

    assert "errors" not in body, body
    assert body["data"]["products"]["totalCount"] == 3


async def test_graphiql_introspection_goes_through(bare_client: httpx.AsyncClient) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )

    body = await graphql(bare_client, query)

    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_nested_introspection_is_refused(bare_client: httpx.AsyncClient) -> None:
    query = (
        '{ __type(name: "Product") { fields { type { fields { type { fields { type '
        "{ fields { name } } } } } } } } }"
    )

    body = await graphql(bare_client, query)

    assert "data" not in body, body
    assert body["errors"][0]["message"] == "Maximum introspection depth exceeded"


def searched_counts(aliases: int) -> str:
    return (
        "{ "
        + " ".join(
            f'a{index}: products(first: 0, filter: {{search: "lamp"}}) {{ totalCount }}'
            for index in range(aliases)
        )
        + " }"
    )


async def cost_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}, "extensions": {"cost": True}},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    cost: dict[str, Any] = body["extensions"]["cost"]
    return cost


async def test_a_count_costs_its_statement(client: httpx.AsyncClient, catalog: None) -> None:
    """`totalCount` is a COUNT over every matching row, even with an empty page."""
    counted = await cost_of(client, "{ products(first: 0) { totalCount } }")
    paged = await cost_of(client, "{ products(first: 0) { pageInfo { hasNextPage } } }")

    assert counted["requestedQueryCost"] >= COUNT_COST + PAGE_COST
    assert counted["requestedQueryCost"] - paged["requestedQueryCost"] >= COUNT_COST - 1


async def test_a_search_makes_the_page_and_the_count_cost_more(
    client: httpx.AsyncClient, catalog: None
) -> None:
    query = "query($filter: ProductFilter) { products(first: 2, filter: $filter) { totalCount } }"

    plain = await cost_of(client, query, {"filter": {"inStock": True}})
    searched = await cost_of(client, query, {"filter": {"search": "lamp"}})
    literal = await cost_of(client, '{ products(first: 2, filter: {search: "a"}) { totalCount } }')
    blank = await cost_of(client, query, {"filter": {"search": None}})

    extra = (PAGE_COST + COUNT_COST) * (SEARCH_FACTOR - 1)
    assert searched["requestedQueryCost"] == plain["requestedQueryCost"] + extra
    assert literal == searched
    assert blank == plain


async def test_nested_counts_multiply_by_the_page_above(
    client: httpx.AsyncClient, catalog: None
) -> None:
    query = "{ products(first: 10) { edges { node { reviews(first: 0) { totalCount } } } } }"

    cost = await cost_of(client, query)

    assert cost["requestedQueryCost"] > 10 * (COUNT_COST + PAGE_COST)


async def test_searched_counts_under_aliases_are_refused_before_any_sql(
    client: httpx.AsyncClient, catalog: None, sql: StatementCounter
) -> None:
    error = refusal(await graphql(client, searched_counts(150)))

    assert error["extensions"]["cost"] > error["extensions"]["maximumCost"]
    assert sql.count == 0, sql.statements


async def test_the_cost_is_reported_when_asked(client: httpx.AsyncClient, catalog: None) -> None:
    asked = await client.get(
        "/graphql",
        params={"query": "{ products(first: 2) { totalCount } }", "extensions": '{"cost": true}'},
    )
    unasked = await client.post("/graphql", json={"query": "{ products(first: 2) { totalCount } }"})

    assert asked.json()["extensions"] == {
        "cost": {
            "requestedQueryCost": 1 + PAGE_COST + COUNT_COST + 2,
            "maximumQueryCost": 5000,
            "throttleStatus": None,
        }
    }
    assert "extensions" not in unasked.json()


def readme_examples() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```graphql\n(.*?)```", readme, flags=re.DOTALL)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (LISTING, {"first": 20}),
        (DETAIL, {"slug": "no-such-product"}),
        *((example, {}) for example in readme_examples()),
    ],
    ids=lambda value: value.split("{")[0].strip()[:20] if isinstance(value, str) else "",
)
async def test_storefront_pages_are_within_the_cost(
    client: httpx.AsyncClient, catalog: None, query: str, variables: dict[str, Any]
) -> None:
    body = await graphql(client, query, variables)

    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert "QUERY_TOO_COMPLEX" not in codes, body

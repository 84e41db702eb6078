"""Catalog search as a shopper meets it, and counts that stop at a limit (both databases)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from server.settings import Settings
from tests.conftest import graphql
from tests.factories import make_product, make_user
from tests.oauth import browser_tokens, make_client
from tests.test_catalog import PAGE, errors_of, page, skus, walk_forward

NAMES = {
    1: "Navy Enamel Mug",
    2: "Blue Café Table",
    3: "Navy Blue Skillet",
    4: "Cast Iron Skillet",
    5: "Ceramic Teapot",
}


@pytest.fixture
async def products(db: str) -> None:
    for number, name in NAMES.items():
        await make_product(number, name=name)


async def found(client: httpx.AsyncClient, search: str, **variables: Any) -> list[str]:
    return await walk_forward(client, 2, filter={"search": search}, **variables)


async def test_words_match_in_any_order_ignoring_case_and_accents(
    client: httpx.AsyncClient, products: None
) -> None:
    assert await found(client, "mug NAVY") == ["SKU-0001"]
    assert await found(client, "navy") == ["SKU-0003", "SKU-0001"]  # by name: "Navy B" < "Navy E"
    assert await found(client, "cafe") == ["SKU-0002"]
    assert await found(client, "CAFÉ table") == ["SKU-0002"]
    assert await found(client, "skillet iron") == ["SKU-0004"]


async def test_a_word_finds_the_words_it_starts(client: httpx.AsyncClient, products: None) -> None:
    assert await found(client, "nav") == ["SKU-0003", "SKU-0001"]
    assert await found(client, "SKIL") == ["SKU-0004", "SKU-0003"]
    assert await found(client, "avy") == []  # not the middle of a word


async def test_sku_and_description_are_searched(client: httpx.AsyncClient, products: None) -> None:
    assert await found(client, "sku-0005") == ["SKU-0005"]
    assert await found(client, "description product 4") == ["SKU-0004"]


async def test_nothing_found_is_an_empty_page(client: httpx.AsyncClient, products: None) -> None:
    connection = await page(client, first=5, filter={"search": "zeppelin"})
    assert connection["edges"] == []
    assert connection["totalCount"] == 0
    assert connection["pageInfo"]["hasNextPage"] is False


async def test_relevance_puts_names_before_descriptions_and_pages_by_cursor(
    client: httpx.AsyncClient, db: str
) -> None:
    await make_product(1, name="Plain Mug")  # "skillet" only in its description, below
    await make_product(2, name="Skillet Lid")
    await make_product(3, name="Big Skillet")
    await make_product(4, name="Teapot")
    from models.catalog import Product
    from resolvers.search import search_columns

    mug = await Product.get(sku="SKU-0001")
    mug.description = "Goes well with a skillet"
    for field, value in search_columns(mug.name, mug.sku, mug.description).items():
        setattr(mug, field, value)
    await mug.save()

    relevance = {"field": "RELEVANCE", "direction": "ASC"}
    best_first = await found(client, "skillet", orderBy=relevance)
    assert set(best_first[:2]) == {"SKU-0002", "SKU-0003"}
    assert best_first[2:] == ["SKU-0001"]
    whole = skus(await page(client, first=10, filter={"search": "skillet"}, orderBy=relevance))
    assert best_first == whole
    worst_first = await found(client, "skillet", orderBy={**relevance, "direction": "DESC"})
    assert worst_first == list(reversed(whole))


async def test_relevance_needs_words_and_search_is_bounded(
    client: httpx.AsyncClient, products: None
) -> None:
    relevance = {"field": "RELEVANCE", "direction": "ASC"}
    assert await errors_of(client, PAGE, orderBy=relevance) == ["BAD_USER_INPUT"]
    nine_words = "one two three four five six seven eight nine"
    assert await errors_of(client, PAGE, filter={"search": nine_words}) == ["BAD_USER_INPUT"]


async def test_a_changed_name_is_found_by_its_new_words(
    client: httpx.AsyncClient, products: None
) -> None:
    await make_user("staff@example.com", staff=True)
    web = await make_client("catalog:write")
    tokens = await browser_tokens(client, web.client_id, "staff@example.com", scope="catalog:write")
    token = tokens["access_token"]
    body = await graphql(
        client,
        "mutation($input: UpdateProductInput!) { updateProduct(input: $input) "
        "{ product { name } userErrors { code } } }",
        {"input": {"id": "UHJvZHVjdDox", "name": "Crimson Mug"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert body["data"]["updateProduct"]["userErrors"] == [], body
    assert await found(client, "crimson") == ["SKU-0001"]
    assert await found(client, "navy") == ["SKU-0003"]


@pytest.fixture
def settings(db: str) -> Settings:
    return replace(Settings(), database_url=db, max_page_size=50, total_count_limit=3)


async def test_counts_stop_at_the_limit_and_say_so(
    client: httpx.AsyncClient, products: None
) -> None:
    query = """query($filter: ProductFilter) { products(first: 1, filter: $filter) {
      totalCount totalCountPrecision } }"""
    body = await graphql(client, query)
    assert body["data"]["products"] == {"totalCount": 3, "totalCountPrecision": "AT_LEAST"}
    body = await graphql(client, query, {"filter": {"search": "navy"}})
    assert body["data"]["products"] == {"totalCount": 2, "totalCountPrecision": "EXACT"}
    body = await graphql(client, query, {"filter": {"search": "l"}})  # 3 of 5 match: exact
    assert body["data"]["products"]["totalCountPrecision"] == "EXACT"

"""The catalog as a client sees it: listings, pages, filters, orderings, lookups, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from models.catalog import Category, Product
from models.reviews import Review
from tests.conftest import graphql
from tests.factories import Catalog, add_review, make_catalog, make_numbered_user, make_product

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String,
           $filter: ProductFilter, $orderBy: ProductOrder) {
  products(first: $first, after: $after, last: $last, before: $before,
           filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { sku name price { amount currency } stock inStock averageRating } }
  }
}
"""


@pytest.fixture
async def catalog(db: str) -> Catalog:
    return await make_catalog(products=13, reviews_per_product=2)


async def page(client: httpx.AsyncClient, **variables: Any) -> dict[str, Any]:
    body = await graphql(client, PAGE, variables)
    assert "errors" not in body, body
    products: dict[str, Any] = body["data"]["products"]
    return products


def skus(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["sku"] for edge in connection["edges"]]


async def walk_forward(client: httpx.AsyncClient, size: int, **variables: Any) -> list[str]:
    found: list[str] = []
    after = None
    while True:
        connection = await page(client, first=size, after=after, **variables)
        found += skus(connection)
        if not connection["pageInfo"]["hasNextPage"]:
            return found
        after = connection["pageInfo"]["endCursor"]


async def walk_backward(client: httpx.AsyncClient, size: int, **variables: Any) -> list[str]:
    found: list[str] = []
    before = None
    while True:
        connection = await page(client, last=size, before=before, **variables)
        found = skus(connection) + found
        if not connection["pageInfo"]["hasPreviousPage"]:
            return found
        before = connection["pageInfo"]["startCursor"]


async def errors_of(client: httpx.AsyncClient, query: str, **variables: Any) -> list[str]:
    body = await graphql(client, query, variables)
    assert body.get("errors"), body
    return [error["extensions"]["code"] for error in body["errors"]]


@pytest.mark.usefixtures("catalog")
async def test_first_page_by_name(client: httpx.AsyncClient) -> None:
    connection = await page(client, first=5)
    assert connection["totalCount"] == 13
    assert skus(connection) == [f"SKU-{number:04d}" for number in range(5)]
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["pageInfo"]["hasPreviousPage"] is False
    first = connection["edges"][0]["node"]
    assert first["price"] == {"amount": "5.00", "currency": "USD"}
    assert first["stock"] == 0
    assert first["inStock"] is False


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize("field", ["NAME", "PRICE", "CREATED_AT", "AVERAGE_RATING"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_every_ordering_pages_through_all_rows_once_in_both_directions(
    client: httpx.AsyncClient, field: str, direction: str
) -> None:
    order = {"field": field, "direction": direction}
    everything = skus(await page(client, first=50, orderBy=order))
    assert sorted(everything) == [f"SKU-{number:04d}" for number in range(13)]
    assert await walk_forward(client, 4, orderBy=order) == everything
    assert await walk_backward(client, 4, orderBy=order) == everything


async def test_ties_are_broken_by_id(client: httpx.AsyncClient, db: str) -> None:
    for number in range(6):
        await make_product(number, price_minor=700)
    ascending = await walk_forward(client, 2, orderBy={"field": "PRICE", "direction": "ASC"})
    descending = await walk_forward(client, 2, orderBy={"field": "PRICE", "direction": "DESC"})
    assert ascending == [f"SKU-{number:04d}" for number in range(6)]
    assert descending == list(reversed(ascending))


async def test_ordering_by_price_and_rating(client: httpx.AsyncClient, db: str) -> None:
    cheap = await make_product(1, price_minor=100)
    dear = await make_product(2, price_minor=99_999)
    middle = await make_product(3, price_minor=5_000)
    reviewer = await make_numbered_user(1)
    await add_review(cheap, reviewer, 5)
    await add_review(dear, reviewer, 2)
    by_price = await page(client, first=3, orderBy={"field": "PRICE", "direction": "ASC"})
    assert skus(by_price) == [cheap.sku, middle.sku, dear.sku]
    by_rating = await page(
        client, first=3, orderBy={"field": "AVERAGE_RATING", "direction": "DESC"}
    )
    assert skus(by_rating) == [cheap.sku, dear.sku, middle.sku]
    ratings = [edge["node"]["averageRating"] for edge in by_rating["edges"]]
    assert ratings == [5.0, 2.0, None]


@pytest.mark.usefixtures("catalog")
async def test_filters(client: httpx.AsyncClient, catalog: Catalog) -> None:
    async def matching(product_filter: dict[str, Any]) -> list[str]:
        connection = await page(client, first=50, filter=product_filter)
        assert connection["totalCount"] == len(connection["edges"])
        return skus(connection)

    assert await matching({"search": "product 0003"}) == ["SKU-0003"]
    assert await matching({"search": "sku-0004"}) == ["SKU-0004"]
    assert await matching({"search": "DESCRIPTION OF PRODUCT 12"}) == ["SKU-0012"]
    root_id = (await graphql(client, '{ category(slug: "root") { id } }'))["data"]["category"]["id"]
    child_id = (await graphql(client, '{ category(slug: "child") { id } }'))["data"]["category"][
        "id"
    ]
    assert len(await matching({"categoryId": root_id})) == 13
    assert await matching({"categoryId": child_id}) == [
        f"SKU-{number:04d}" for number in range(1, 13, 2)
    ]
    prices = {p.sku: p.price_minor for p in catalog.products}
    assert set(await matching({"minPrice": "8.00", "maxPrice": "12.50"})) == {
        sku for sku, minor in prices.items() if 800 <= minor <= 1250
    }
    stocks = {p.sku: p.stock for p in catalog.products}
    assert set(await matching({"inStock": True})) == {s for s, n in stocks.items() if n > 0}
    assert set(await matching({"inStock": False})) == {s for s, n in stocks.items() if n == 0}
    assert await matching({"search": "no such thing"}) == []


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 51}, "BAD_USER_INPUT"),
        ({"first": -1}, "BAD_USER_INPUT"),
        ({"first": 2, "last": 2}, "BAD_USER_INPUT"),
        ({"first": 2, "after": "not-a-cursor"}, "BAD_USER_INPUT"),
        ({"first": 2, "after": "WyJ4Il0="}, "BAD_USER_INPUT"),
        ({"first": 2, "filter": {"minPrice": "1.001"}}, "BAD_USER_INPUT"),
        ({"first": 2, "filter": {"minPrice": "-3"}}, "BAD_USER_INPUT"),
        ({"first": 2, "filter": {"minPrice": "cheap"}}, "BAD_USER_INPUT"),
        ({"first": 2, "filter": {"categoryId": "bm9wZQ=="}}, "BAD_USER_INPUT"),
        ({"first": "two"}, "BAD_USER_INPUT"),
        ({"first": 2, "orderBy": {"field": "COLOUR", "direction": "ASC"}}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_arguments_are_bad_user_input(
    client: httpx.AsyncClient, variables: dict[str, Any], code: str
) -> None:
    assert await errors_of(client, PAGE, **variables) == [code]


@pytest.mark.usefixtures("catalog")
async def test_a_cursor_from_another_ordering_is_refused(client: httpx.AsyncClient) -> None:
    by_name = await page(client, first=2)
    cursor = by_name["pageInfo"]["endCursor"]
    codes = await errors_of(
        client, PAGE, first=2, after=cursor, orderBy={"field": "PRICE", "direction": "ASC"}
    )
    assert codes == ["BAD_USER_INPUT"]


@pytest.mark.usefixtures("catalog")
async def test_product_lookups(client: httpx.AsyncClient) -> None:
    query = """query One($id: ID, $sku: String, $slug: String) {
        product(id: $id, sku: $sku, slug: $slug) { id sku slug category { slug } }
    }"""
    by_sku = (await graphql(client, query, {"sku": "SKU-0003"}))["data"]["product"]
    assert by_sku["slug"] == "product-0003"
    assert by_sku["category"] == {"slug": "child"}
    by_id = (await graphql(client, query, {"id": by_sku["id"]}))["data"]["product"]
    by_slug = (await graphql(client, query, {"slug": "product-0003"}))["data"]["product"]
    assert by_id == by_slug == by_sku
    missing = await graphql(client, query, {"sku": "NOPE"})
    assert missing == {"data": {"product": None}}
    assert await errors_of(client, query, sku="SKU-0003", slug="product-0003") == ["BAD_USER_INPUT"]
    assert await errors_of(client, query) == ["BAD_USER_INPUT"]
    category_id = (await graphql(client, '{ category(slug: "root") { id } }'))["data"]
    assert await errors_of(client, query, id=category_id["category"]["id"]) == ["BAD_USER_INPUT"]
    assert await errors_of(client, query, id="%%%") == ["BAD_USER_INPUT"]


@pytest.mark.usefixtures("catalog")
async def test_product_reviews_page_newest_first(client: httpx.AsyncClient) -> None:
    query = """query Reviews($after: String) {
        product(sku: "SKU-0002") {
            reviewCount averageRating
            reviews(first: 1, after: $after) {
                totalCount pageInfo { hasNextPage endCursor }
                edges { node { rating author { name } product { sku } } }
            }
        }
    }"""
    first = (await graphql(client, query))["data"]["product"]
    assert first["reviewCount"] == 2
    assert first["averageRating"] == 3.5
    reviews = first["reviews"]
    assert reviews["totalCount"] == 2
    assert reviews["pageInfo"]["hasNextPage"] is True
    assert reviews["edges"][0]["node"] == {
        "rating": 4,
        "author": {"name": "User 1"},
        "product": {"sku": "SKU-0002"},
    }
    second = (await graphql(client, query, {"after": reviews["pageInfo"]["endCursor"]}))["data"]
    rest = second["product"]["reviews"]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["edges"][0]["node"]["author"] == {"name": "User 0"}


async def test_timestamps_are_the_stored_instants(
    client: httpx.AsyncClient, catalog: Catalog
) -> None:
    """Timestamps read through every kind of loader (a page of products, rows by id,
    per-parent windows) are the instants in the database, with their offset."""
    product = await Product.get(sku="SKU-0002").prefetch_related("category")
    review = await Review.filter(product=product).order_by("-id").first()
    assert review is not None
    body = await graphql(
        client,
        """{ products(first: 2, filter: {search: "SKU-0002"}) { edges { node {
               createdAt updatedAt category { createdAt updatedAt }
               reviews(first: 1) { edges { node { createdAt } } } } } } }""",
    )
    assert "errors" not in body, body
    node = body["data"]["products"]["edges"][0]["node"]
    category = product.category
    expected = {
        "createdAt": product.created_at,
        "updatedAt": product.updated_at,
        "category": {"createdAt": category.created_at, "updatedAt": category.updated_at},
        "reviews": {"edges": [{"node": {"createdAt": review.created_at}}]},
    }
    assert _instants(node) == expected


def _instants(value: Any) -> Any:
    """Parse every ISO 8601 string (which must carry an offset) into a datetime."""
    if isinstance(value, dict):
        return {key: _instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_instants(item) for item in value]
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


@pytest.mark.usefixtures("catalog")
async def test_category_tree(client: httpx.AsyncClient) -> None:
    query = """{
        categories(first: 10) {
            totalCount
            edges { node { slug parent { slug }
                           children(first: 5) { totalCount edges { node { slug } } }
                           products(first: 2) { totalCount edges { node { sku } } } } }
        }
        roots: categories(rootsOnly: true) { edges { node { slug } } }
    }"""
    data = (await graphql(client, query))["data"]
    nodes = {edge["node"]["slug"]: edge["node"] for edge in data["categories"]["edges"]}
    assert data["categories"]["totalCount"] == 2
    assert nodes["root"]["parent"] is None
    assert nodes["root"]["children"] == {"totalCount": 1, "edges": [{"node": {"slug": "child"}}]}
    assert nodes["child"]["parent"] == {"slug": "root"}
    assert nodes["child"]["products"]["totalCount"] == 6
    assert [e["node"]["sku"] for e in nodes["child"]["products"]["edges"]] == [
        "SKU-0001",
        "SKU-0003",
    ]
    assert data["roots"]["edges"] == [{"node": {"slug": "root"}}]


async def test_children_come_a_page_at_a_time(client: httpx.AsyncClient, db: str) -> None:
    root = await Category.create(name="Root", slug="root")
    for letter in "dcba":
        await Category.create(name=f"Shelf {letter}", slug=f"shelf-{letter}", parent=root)
    query = """query($after: String) { category(slug: "root") {
        children(first: 3, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { slug } } } } }"""
    first = (await graphql(client, query))["data"]["category"]["children"]
    assert [edge["node"]["slug"] for edge in first["edges"]] == ["shelf-a", "shelf-b", "shelf-c"]
    assert first["totalCount"] == 4
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = (await graphql(client, query, {"after": after}))["data"]["category"]["children"]
    assert [edge["node"]["slug"] for edge in rest["edges"]] == ["shelf-d"]
    assert rest["pageInfo"]["hasNextPage"] is False


@pytest.mark.usefixtures("catalog")
async def test_node_and_nodes(client: httpx.AsyncClient) -> None:
    listing = await graphql(
        client,
        """{ products(first: 1) { edges { node { id category { id }
             reviews(first: 1) { edges { node { id author { id } } } } } } } }""",
    )
    product = listing["data"]["products"]["edges"][0]["node"]
    review = product["reviews"]["edges"][0]["node"]
    ids = [product["id"], product["category"]["id"], review["id"], review["author"]["id"]]
    query = """query Nodes($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""
    found = (await graphql(client, query, {"ids": ids}))["data"]["nodes"]
    assert [node["__typename"] for node in found] == ["Product", "Category", "Review", "User"]
    assert [node["id"] for node in found] == ids
    one = await graphql(client, "query N($id: ID!) { node(id: $id) { id } }", {"id": ids[0]})
    assert one == {"data": {"node": {"id": ids[0]}}}
    missing_id = "UHJvZHVjdDo5OTk5"  # Product:9999
    assert (await graphql(client, query, {"ids": [missing_id]}))["data"]["nodes"] == [None]
    assert await errors_of(client, query, ids=["T3JkZXJ4OjE="]) == ["BAD_USER_INPUT"]
    assert await errors_of(client, query, ids=[ids[0]] * 51) == ["BAD_USER_INPUT"]


async def test_unknown_fields_fail_validation(client: httpx.AsyncClient, db: str) -> None:
    body = await graphql(client, "{ products(first: 1) { edges { node { nope } } } }")
    assert "data" not in body or body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"

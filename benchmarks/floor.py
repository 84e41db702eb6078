"""The floors: the product listing page written by hand, for the benchmark to compare with.

Plain Starlette endpoints that answer the listing query of `benchmarks.workloads`
(`variables.first` products ordered by name, each with its category and its five newest
reviews with their authors) with the least work that can produce the same JSON as the
GraphQL service: no ORM, no GraphQL, asyncpg and orjson. The query text in the request
body is not read; only `variables.first`.

- `app` sends five batched statements, one per level, as a DataLoader design does.
- `one_statement_app` sends one: the page, its count, categories, the newest reviews
  and their authors joined in a single statement (issue 10 measures against this one).

Run one with `DATABASE_URL=postgres://... uvicorn benchmarks.floor:app`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.settings import Settings

REVIEWS_PER_PRODUCT = 5

# `listing`'s five statements: products, count, categories, reviews, authors.
PRODUCTS = """
SELECT id, sku, name, price_minor, currency, stock, review_count, rating_total, category_id
FROM product ORDER BY name, id LIMIT $1
"""
# The service counts at most TOTAL_COUNT_LIMIT products (then says "at least").
COUNT_LIMIT = Settings().total_count_limit
COUNTED = f"(SELECT count(*) FROM (SELECT 1 FROM product LIMIT {COUNT_LIMIT + 1}) AS counted)"
COUNT = f"SELECT least({COUNTED}, {COUNT_LIMIT})"
CATEGORIES = "SELECT id, name FROM category WHERE id = ANY($1::int[])"
REVIEWS = """
SELECT product_id, rating, body, author_id FROM (
    SELECT product_id, rating, body, author_id,
           row_number() OVER (PARTITION BY product_id ORDER BY id DESC) AS position
    FROM review WHERE product_id = ANY($1::int[])
) AS newest WHERE position <= $2 ORDER BY product_id, position
"""
USERS = 'SELECT id, name FROM "user" WHERE id = ANY($1::int[])'
# Everything in one statement: one row per (product, review), products without reviews
# once with NULL review columns; the count rides along on every row. The extra product
# (it tells whether a next page exists) gets no reviews, as in the five statements.
ONE_STATEMENT = f"""
WITH page AS (
    SELECT id, sku, name, price_minor, currency, stock, review_count, rating_total,
           category_id, row_number() OVER (ORDER BY name, id) AS position
    FROM product ORDER BY name, id LIMIT $1 + 1
)
SELECT page.*, category.name AS category_name,
       least({COUNTED}, {COUNT_LIMIT}) AS total,
       newest.rating, newest.body, newest.author_id, author.name AS author_name
FROM page
LEFT JOIN category ON category.id = page.category_id
LEFT JOIN LATERAL (
    SELECT id, rating, body, author_id FROM review
    WHERE product_id = page.id AND page.position <= $1 ORDER BY id DESC LIMIT $2
) AS newest ON true
LEFT JOIN "user" AS author ON author.id = newest.author_id
ORDER BY page.name, page.id, newest.id DESC
"""


def global_id(type_name: str, id_: int) -> str:
    return base64.b64encode(f"{type_name}:{id_}".encode()).decode()


def name_cursor(name: str, id_: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["products:NAME:asc", name, id_])).decode()


def amount(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def average(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


async def listing(connection: asyncpg.Connection, first: int) -> dict[str, Any]:
    """The `data` of the listing query for its first `first` products."""
    rows = await connection.fetch(PRODUCTS, first + 1)
    products = rows[:first]
    total = await connection.fetchval(COUNT)
    product_ids = [row["id"] for row in products]
    category_ids = list({row["category_id"] for row in products if row["category_id"]})
    categories = {
        row["id"]: {"id": global_id("Category", row["id"]), "name": row["name"]}
        for row in await connection.fetch(CATEGORIES, category_ids)
    }
    reviews = await connection.fetch(REVIEWS, product_ids, REVIEWS_PER_PRODUCT)
    authors = await _authors(connection, {row["author_id"] for row in reviews})
    reviews_of: dict[int, list[dict[str, Any]]] = {id_: [] for id_ in product_ids}
    for row in reviews:
        reviews_of[row["product_id"]].append(
            _review(row["rating"], row["body"], authors.get(row["author_id"]))
        )
    return _listing(first, rows, total, categories, reviews_of)


async def listing_in_one_statement(connection: asyncpg.Connection, first: int) -> dict[str, Any]:
    """The same `data` as `listing`, from one statement."""
    rows = await connection.fetch(ONE_STATEMENT, first, REVIEWS_PER_PRODUCT)
    products: dict[int, Any] = {}
    categories: dict[int, Any] = {}
    reviews_of: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        id_ = row["id"]
        if id_ not in products:
            products[id_] = row
            reviews_of[id_] = []
            category_id = row["category_id"]
            if category_id is not None:
                categories[category_id] = {
                    "id": global_id("Category", category_id),
                    "name": row["category_name"],
                }
        if row["rating"] is not None:
            author_id = row["author_id"]
            author = (
                None
                if author_id is None
                else {"id": global_id("User", author_id), "name": row["author_name"]}
            )
            reviews_of[id_].append(_review(row["rating"], row["body"], author))
    total = rows[0]["total"] if rows else 0
    return _listing(first, list(products.values()), total, categories, reviews_of)


def _review(rating: int, body: str, author: Any) -> dict[str, Any]:
    return {"node": {"rating": rating, "body": body, "author": author}}


def _listing(
    first: int,
    rows: list[Any],
    total: int,
    categories: dict[int, Any],
    reviews_of: dict[int, list[dict[str, Any]]],
) -> dict[str, Any]:
    """The listing's JSON from `first` + 1 product rows (the extra one tells whether a next
    page exists) and what was loaded for them."""
    products = rows[:first]
    last = products[-1] if products else None
    return {
        "products": {
            "totalCount": total,
            "pageInfo": {
                "hasNextPage": len(rows) > first,
                "endCursor": name_cursor(last["name"], last["id"]) if last else None,
            },
            "edges": [
                {
                    "node": {
                        "id": global_id("Product", row["id"]),
                        "sku": row["sku"],
                        "name": row["name"],
                        "price": {
                            "amount": amount(row["price_minor"]),
                            "currency": row["currency"],
                        },
                        "inStock": row["stock"] > 0,
                        "averageRating": average(row["rating_total"], row["review_count"]),
                        "reviewCount": row["review_count"],
                        "category": categories.get(row["category_id"]),
                        "reviews": {"edges": reviews_of[row["id"]]},
                    }
                }
                for row in products
            ],
        }
    }


async def _authors(connection: asyncpg.Connection, ids: Iterable[int]) -> dict[int, Any]:
    rows = await connection.fetch(USERS, list(ids))
    return {row["id"]: {"id": global_id("User", row["id"]), "name": row["name"]} for row in rows}


Listing = Callable[[asyncpg.Connection, int], Awaitable[dict[str, Any]]]


def endpoint(answer: Listing) -> Callable[[Request], Awaitable[Response]]:
    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        first = int(body["variables"]["first"])
        async with request.app.state.pool.acquire() as connection:
            data = await answer(connection, first)
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    return graphql


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return connections to the pool as they are: this app changes no session state."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    # No reset query on release (asyncpg's default is one more round trip per request),
    # as the service does too; the pool is as large as Tortoise's default.
    async with asyncpg.create_pool(url, min_size=1, max_size=5, reset=_keep_session) as pool:
        app.state.pool = pool
        yield


def _app(answer: Listing) -> Starlette:
    return Starlette(
        routes=[
            Route("/graphql", endpoint(answer), methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


app = _app(listing)
one_statement_app = _app(listing_in_one_statement)

"""The floor: the product listing page written by hand, for the benchmark to compare with.

A plain Starlette endpoint that answers the listing query of `benchmarks.workloads`
(`variables.first` products ordered by name, each with its category and its five newest
reviews with their authors) with the least work that can produce the same JSON as the
GraphQL service: five batched statements through asyncpg, no ORM, no GraphQL, orjson.
The query text in the request body is not read; only `variables.first`.

Run it with `DATABASE_URL=postgres://... uvicorn benchmarks.floor:app`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REVIEWS_PER_PRODUCT = 5
# The statements `listing` sends: products, count, categories, reviews, authors.
STATEMENTS_PER_LISTING = 5

PRODUCTS = """
SELECT id, sku, name, price_minor, currency, stock, review_count, rating_total, category_id
FROM product ORDER BY name, id LIMIT $1
"""
COUNT = "SELECT count(*) FROM product"
CATEGORIES = "SELECT id, name FROM category WHERE id = ANY($1::int[])"
REVIEWS = """
SELECT product_id, rating, body, author_id FROM (
    SELECT product_id, rating, body, author_id,
           row_number() OVER (PARTITION BY product_id ORDER BY id DESC) AS position
    FROM review WHERE product_id = ANY($1::int[])
) AS newest WHERE position <= $2 ORDER BY product_id, position
"""
USERS = 'SELECT id, name FROM "user" WHERE id = ANY($1::int[])'


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
            {
                "node": {
                    "rating": row["rating"],
                    "body": row["body"],
                    "author": authors.get(row["author_id"]),
                }
            }
        )
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


async def graphql(request: Request) -> Response:
    body = orjson.loads(await request.body())
    first = int(body["variables"]["first"])
    async with request.app.state.pool.acquire() as connection:
        data = await listing(connection, first)
    return Response(orjson.dumps({"data": data}), media_type="application/json")


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


app = Starlette(
    routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)

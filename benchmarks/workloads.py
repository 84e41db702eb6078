"""What the benchmark asks: the GraphQL documents and the request bodies of each workload."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

# The product listing page, exactly as issue 2 gives it (the statement-count and query-cost
# tests use it too).
LISTING = """query Listing($first: Int!, $after: String) {
  products(first: $first, after: $after, orderBy: {field: NAME, direction: ASC}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id sku name price { amount currency } inStock averageRating reviewCount
      category { id name }
      reviews(first: 5) { edges { node { rating body author { id name } } } }
    } }
  }
}"""

# The product detail page: one product with its category, its first 20 reviews with
# their authors, and 10 products of the same category.
DETAIL = """query ProductPage($slug: String!) {
  product(slug: $slug) {
    id sku name slug description price { amount currency } stock inStock
    averageRating reviewCount
    category {
      id name slug
      products(first: 10) { edges { node {
        id name slug price { amount currency } inStock averageRating
      } } }
    }
    reviews(first: 20) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id rating body createdAt author { id name } } }
    }
  }
}"""

# Every DETAIL_STRIDE-th product (by id) is a detail page the clients visit in turn.
DETAIL_STRIDE = 10

Bodies = Callable[[], bytes]
HEADERS = {"content-type": "application/json", "accept": "application/json"}


@dataclass(frozen=True)
class Workload:
    """One kind of request: `bodies()` gives the next request body to POST."""

    name: str
    description: str
    bodies: Bodies
    # Whether the hand-written floor answers it too.
    has_floor: bool
    headers: dict[str, str] = field(default_factory=lambda: dict(HEADERS))


def body(query: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


def listing(first: int, token: str | None = None) -> Workload:
    """The listing page; with `token`, sent by a signed-in customer (what a valid bearer
    token costs a public query)."""
    payload = body(LISTING, {"first": first})
    if token is None:
        return Workload(
            name=f"listing_{first}",
            description=f"product listing, first: {first}",
            bodies=lambda: payload,
            has_floor=True,
        )
    return Workload(
        name=f"listing_{first}_signed_in",
        description=f"product listing, first: {first}, with a valid bearer token",
        bodies=lambda: payload,
        has_floor=False,
        headers={**HEADERS, "authorization": f"Bearer {token}"},
    )


def detail(slugs: Sequence[str]) -> Workload:
    """Detail pages of `slugs`, visited round-robin in a fixed order."""
    payloads = itertools.cycle([body(DETAIL, {"slug": slug}) for slug in slugs])
    return Workload(
        name="detail",
        description=f"product detail page ({len(slugs)} products in turn)",
        bodies=lambda: next(payloads),
        has_floor=False,
    )


def all_workloads(detail_slugs: Sequence[str], token: str) -> list[Workload]:
    return [listing(20), listing(20, token), listing(100), detail(detail_slugs)]

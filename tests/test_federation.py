"""Federation v2: the subgraph composes with another, and `_service`/`_entities` answer.

Composition runs Apollo's own composer (`@apollo/composition`, tests/node/compose.mjs) on
the exported SDL and a second subgraph that extends `Product`, so a schema change that a
federation router would refuse fails the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from models.catalog import Category
from models.catalog import Product as ProductRow
from schema import sdl
from schema.relay import to_global_id
from tests.conftest import StatementCounter, graphql, require_service
from tests.factories import add_review, make_numbered_user, make_product

NODE_DIR = Path(__file__).parent / "node"

# A second subgraph, as another team would write it: shipping extends our products and
# refers to our users without resolving them.
SHIPPING = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])

type Product @key(fields: "id") {
  id: ID!
  shippingEstimate: ShippingEstimate
}

type User @key(fields: "id", resolvable: false) {
  id: ID!
}

type ShippingEstimate {
  days: Int!
  carrier: String!
}

type Shipment @key(fields: "id") {
  id: ID!
  recipient: User!
  products: [Product!]!
}

type Query {
  shipment(id: ID!): Shipment
}
"""

# Redefines a field of ours with another type: a router must refuse this.
CONFLICTING = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])

type Product @key(fields: "id") {
  id: ID!
  name: Int
}
"""

ENTITIES = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Product { id sku name }
    ... on Category { id name }
    ... on User { id name }
  }
}
"""


@dataclass(frozen=True)
class Composition:
    succeeded: bool
    supergraph: str
    errors: str


def compose(subgraphs: dict[str, str]) -> Composition:
    """Compose named subgraph SDLs with @apollo/composition."""
    node = shutil.which("node")
    require_service(node is not None, "Node.js is not installed")
    require_service(
        (NODE_DIR / "node_modules" / "@apollo" / "composition").is_dir(),
        "npm packages missing: run npm ci in tests/node",
    )
    payload = {
        "subgraphs": [
            {"name": name, "url": f"http://127.0.0.1/{name}/graphql", "sdl": text}
            for name, text in subgraphs.items()
        ]
    }
    env = {**os.environ, "APOLLO_TELEMETRY_DISABLED": "true"}
    for variable in ("APOLLO_KEY", "APOLLO_GRAPH_REF"):
        env.pop(variable, None)
    finished = subprocess.run(
        [str(node), "compose.mjs"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        env=env,
        timeout=60,
        check=False,
    )
    return Composition(finished.returncode == 0, finished.stdout, finished.stderr)


def test_schema_composes_with_a_subgraph_extending_product() -> None:
    composed = compose({"storefront": sdl(), "shipping": SHIPPING})

    assert composed.succeeded, composed.errors
    supergraph = composed.supergraph
    for type_name in ("Product", "Category", "Review", "User", "ProductConnection", "Money"):
        assert f"type {type_name}" in supergraph
    assert '@join__type(graph: STOREFRONT, key: "sku")' in supergraph
    assert '@join__type(graph: SHIPPING, key: "id")' in supergraph
    assert "shippingEstimate: ShippingEstimate" in supergraph
    assert "products(" in supergraph


def test_a_conflicting_subgraph_fails_composition() -> None:
    composed = compose({"storefront": sdl(), "conflicting": CONFLICTING})

    assert not composed.succeeded
    assert "Product.name" in composed.errors


async def test_service_sdl_is_the_exported_schema(bare_client: httpx.AsyncClient) -> None:
    body = await graphql(bare_client, "{ _service { sdl } }")

    assert "errors" not in body, body
    served = body["data"]["_service"]["sdl"]
    assert served.strip() == sdl().strip()


async def make_products(count: int) -> tuple[Category, list[ProductRow]]:
    category = await Category.create(name="Tools", slug="tools")
    return category, [await make_product(number, category=category) for number in range(count)]


def product_by_id(product: ProductRow) -> dict[str, Any]:
    return {"__typename": "Product", "id": to_global_id("Product", product.id)}


async def entities(client: httpx.AsyncClient, representations: list[dict[str, Any]]) -> Any:
    body = await graphql(client, ENTITIES, {"representations": representations})
    assert "errors" not in body, body
    return body["data"]["_entities"]


async def test_entities_resolve_products_by_id_and_by_sku_in_order(
    client: httpx.AsyncClient,
) -> None:
    _, (first, second, third) = await make_products(3)

    found = await entities(
        client,
        [
            product_by_id(third),
            {"__typename": "Product", "sku": first.sku},
            {"__typename": "Product", "id": to_global_id("Product", 999_999)},
            product_by_id(first),
            {"__typename": "Product", "sku": "NO-SUCH-SKU"},
            {"__typename": "Product", "sku": second.sku},
        ],
    )

    assert found == [
        {"__typename": "Product", "id": to_global_id("Product", p.id), "sku": p.sku, "name": p.name}
        if p is not None
        else None
        for p in (third, first, None, first, None, second)
    ]


async def test_entities_resolve_categories_and_users(client: httpx.AsyncClient) -> None:
    category = await Category.create(name="Garden", slug="garden")
    user = await make_numbered_user(1)
    # A user is public as the author of a review (tests/test_user_privacy.py).
    await add_review(await make_product(1), user, 5)

    found = await entities(
        client,
        [
            {"__typename": "User", "id": to_global_id("User", user.id)},
            {"__typename": "Category", "id": to_global_id("Category", category.id)},
            {"__typename": "User", "id": to_global_id("User", 999_999)},
        ],
    )

    assert found == [
        {"__typename": "User", "id": to_global_id("User", user.id), "name": "User 1"},
        {"__typename": "Category", "id": to_global_id("Category", category.id), "name": "Garden"},
        None,
    ]


async def test_entities_cost_one_statement_per_type_whatever_their_number(
    client: httpx.AsyncClient, sql: StatementCounter
) -> None:
    _, products = await make_products(30)
    counts = []
    for size in (3, 30):
        sql.reset()
        found = await entities(client, [product_by_id(p) for p in products[:size]])
        assert [entity["sku"] for entity in found] == [p.sku for p in products[:size]]
        counts.append(sql.count)

    assert counts == [1, 1]


async def test_entities_of_several_types_cost_one_statement_per_type(
    client: httpx.AsyncClient, sql: StatementCounter
) -> None:
    category, products = await make_products(10)
    users = [await make_numbered_user(number) for number in range(5)]
    for user in users:
        await add_review(products[0], user, 4)
    sql.reset()

    found = await entities(
        client,
        [
            *(product_by_id(p) for p in products),
            *({"__typename": "Product", "sku": p.sku} for p in products),
            *({"__typename": "User", "id": to_global_id("User", u.id)} for u in users),
            {"__typename": "Category", "id": to_global_id("Category", category.id)},
        ],
    )

    assert len(found) == 26
    assert None not in found
    # products by id, products by SKU, users, which users wrote reviews, categories
    assert sql.count == 5

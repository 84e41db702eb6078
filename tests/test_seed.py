"""`storefront seed`: deterministic, consistent demo data, and careful with existing data."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext

from auth.accounts import authenticate
from models.accounts import User
from models.catalog import Category, Product
from models.oauth import OAuthClient
from models.orders import Order, OrderItem, OrderStatus
from models.reviews import Review
from server.seed import DEMO_CLIENT, DEMO_CUSTOMER, DEMO_STAFF, SeedSizes, run_seed
from server.settings import Settings

SIZES = SeedSizes(categories=5, products=40, users=15, reviews=200, orders=30)
SEEDED_TABLES = ["category", "user", "product", "review", "order", "order_item"]


async def seed(
    database_url: str,
    *,
    seed: int = 42,
    reset: bool = False,
    if_empty: bool = False,
    currency: str = "EUR",
) -> int:
    """Run the seed as `storefront seed` does, beside the session's ORM, not through it."""
    settings = replace(Settings(), database_url=database_url, currency=currency)
    async with TortoiseContext():
        return await run_seed(settings, SIZES, seed=seed, reset=reset, if_empty=if_empty)


async def dump() -> dict[str, list[dict[str, Any]]]:
    """Every seeded row; the demo accounts' password hashes are salted, so left out."""
    connection = get_connection("default")
    demo = {DEMO_STAFF[0], DEMO_CUSTOMER[0]}
    return {
        table: [
            row
            for row in await connection.execute_query_dict(f'SELECT * FROM "{table}" ORDER BY id')
            if row.get("email") not in demo
        ]
        for table in SEEDED_TABLES
    }


async def test_seed_fills_every_table(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await seed(db) == 0

    assert await Category.all().count() == SIZES.categories
    assert await Product.all().count() == SIZES.products
    assert await User.all().count() == SIZES.users + 2  # and the two demo accounts
    assert await Review.all().count() == SIZES.reviews
    assert await Order.all().count() == SIZES.orders
    assert SIZES.orders <= await OrderItem.all().count() <= 4 * SIZES.orders
    progress = capsys.readouterr().err
    assert f"seed: product {SIZES.products}/{SIZES.products}" in progress
    assert f"seed: review {SIZES.reviews}/{SIZES.reviews}" in progress


async def test_seeded_data_looks_like_a_shop(db: str) -> None:
    await seed(db, currency="EUR")

    roots = await Category.filter(parent_id=None).count()
    assert 1 <= roots < SIZES.categories
    products = await Product.all()
    assert {product.currency for product in products} == {"EUR"}
    assert all(0 <= product.stock <= 200 for product in products)
    assert len({product.sku for product in products}) == len(products)
    assert all(product.price_minor > 0 for product in products)
    statuses = set(await Order.all().values_list("status", flat=True))
    assert statuses <= set(OrderStatus)
    assert len(statuses) >= 3
    emails = await User.all().order_by("id").values_list("email", flat=True)
    assert emails[0] == "user0001@example.com"
    review_ids = await Review.all().order_by("created_at", "id").values_list("id", flat=True)
    assert review_ids == sorted(review_ids)


async def test_same_seed_gives_the_same_data(db: str) -> None:
    assert await seed(db, seed=7) == 0
    first = await dump()

    assert await seed(db, seed=7, reset=True) == 0
    again = await dump()
    assert await seed(db, seed=8, reset=True) == 0
    other = await dump()

    assert again == first
    assert other != first


async def test_seed_refuses_a_database_with_data(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await seed(db)
    before = await dump()
    capsys.readouterr()

    assert await seed(db, seed=99) == 1

    assert "already has data" in capsys.readouterr().err
    assert await dump() == before


async def test_if_empty_skips_a_database_with_data(db: str) -> None:
    assert await seed(db, if_empty=True) == 0
    before = await dump()
    assert before["product"]

    assert await seed(db, seed=99, if_empty=True) == 0

    assert await dump() == before


async def test_oauth_clients_are_not_store_data(db: str) -> None:
    """A client registered before seeding neither blocks the seed nor goes with --reset."""
    await OAuthClient.create(client_id="demo-web", name="Demo web", scopes="orders:write")

    assert await seed(db) == 0
    assert await seed(db, reset=True) == 0

    assert await OAuthClient.all().order_by("id").values_list("name", flat=True) == [
        "Demo web",
        DEMO_CLIENT,
    ]
    assert await Product.all().count() == SIZES.products


async def test_demo_accounts_can_sign_in(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await seed(db) == 0
    instructions = capsys.readouterr().err

    staff = await authenticate(DEMO_STAFF[0], DEMO_STAFF[2])
    customer = await authenticate(DEMO_CUSTOMER[0], DEMO_CUSTOMER[2])
    assert staff is not None
    assert staff.is_staff
    assert customer is not None
    assert not customer.is_staff
    client = await OAuthClient.get(name=DEMO_CLIENT)
    assert client.secret_hash is None
    assert client.client_id in instructions
    assert "storefront issue-token --user customer@example.com" in instructions


async def test_rating_figures_match_the_reviews(db: str) -> None:
    await seed(db)
    rows = await get_connection("default").execute_query_dict(
        "SELECT p.id, p.review_count, p.rating_total, p.rating_average, "
        "COUNT(r.id) AS reviews, COALESCE(SUM(r.rating), 0) AS ratings "
        "FROM product p LEFT JOIN review r ON r.product_id = p.id "
        "GROUP BY p.id, p.review_count, p.rating_total, p.rating_average"
    )
    assert len(rows) == SIZES.products
    assert any(row["reviews"] for row in rows)
    for row in rows:
        assert row["review_count"] == row["reviews"]
        assert row["rating_total"] == row["ratings"]
        expected = row["ratings"] / row["reviews"] if row["reviews"] else 0.0
        assert row["rating_average"] == pytest.approx(expected)


async def test_order_totals_are_the_sums_of_their_items(db: str) -> None:
    await seed(db)
    rows = await get_connection("default").execute_query_dict(
        "SELECT o.id, o.total_minor, SUM(i.quantity * i.unit_price_minor) AS items_total, "
        "COUNT(i.id) AS items, SUM(CASE WHEN i.unit_price_minor = p.price_minor "
        "THEN 0 ELSE 1 END) AS repriced "
        'FROM "order" o JOIN order_item i ON i.order_id = o.id '
        "JOIN product p ON p.id = i.product_id GROUP BY o.id, o.total_minor"
    )
    assert len(rows) == SIZES.orders
    for row in rows:
        assert row["total_minor"] == row["items_total"]
        assert 1 <= row["items"] <= 4
        assert row["repriced"] == 0


SCHEMA = """
SELECT 'index' AS kind, indexname AS name, indexdef AS definition FROM pg_indexes
WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid)
    || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


@pytest.mark.dialect(
    "postgres"
)  # the seed drops indexes and keys while it loads, and makes them again
async def test_seed_leaves_the_schema_as_migrated(db: str) -> None:
    connection = get_connection("default")
    migrated = await connection.execute_query_dict(SCHEMA)

    assert await seed(db) == 0
    assert await seed(db, reset=True) == 0

    assert await connection.execute_query_dict(SCHEMA) == migrated
    assert any("FOREIGN KEY" in row["definition"] for row in migrated)


@pytest.mark.dialect("postgres")  # when each table was last analyzed
async def test_seed_analyzes_what_it_wrote(db: str) -> None:
    connection = get_connection("default")
    started = (await connection.execute_query_dict("SELECT clock_timestamp() AS now"))[0]["now"]

    assert await seed(db, reset=True) == 0

    tables = await connection.execute_query_dict(
        "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
        [SEEDED_TABLES],
    )
    assert sorted(row["relname"] for row in tables) == sorted(SEEDED_TABLES)
    assert all(row["last_analyze"] >= started for row in tables)


async def test_new_rows_get_fresh_ids_after_a_seed(db: str) -> None:
    await seed(db)

    category = await Category.create(name="Clearance", slug="clearance")

    assert category.id == SIZES.categories + 1


async def test_impossible_sizes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    sizes = SeedSizes(categories=1, products=2, users=2, reviews=5, orders=0)

    code = await run_seed(Settings(), sizes, seed=1, reset=False, if_empty=False)

    assert code == 2
    assert "--reviews" in capsys.readouterr().err


def test_storefront_seed_from_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite://{tmp_path / 'demo.sqlite3'}"}

    def storefront(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", *arguments],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    unmigrated = storefront("seed")
    assert unmigrated.returncode == 1
    assert "storefront migrate" in unmigrated.stderr
    assert storefront("migrate").returncode == 0
    sizes = ["--categories", "5", "--products", "30", "--users", "10", "--reviews", "60"]
    result = storefront("seed", *sizes, "--orders", "12")

    assert result.returncode == 0, result.stderr
    progress = result.stderr.splitlines()
    for table, count in [("category", 5), ("user", 10), ("product", 30), ("review", 60)]:
        assert any(line.startswith(f"seed: {table} {count}/{count} (") for line in progress)
    assert any(line.startswith("seed: order 12/12 (") for line in progress)
    again = storefront("seed", *sizes, "--orders", "12")
    assert again.returncode == 1
    assert "already has data" in again.stderr

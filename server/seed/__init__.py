"""`storefront seed`: deterministic demo data, streamed into the database.

The same seed gives the same rows, ids and timestamps on SQLite and PostgreSQL
(`builders`). Rows are streamed into each table in one transaction (`writing`), so
memory stays flat whatever the size and a failed run (or a failed `--reset`) leaves the
database as it was; the keys are checked (on PostgreSQL, indexes and keys made) once
the rows are in, then the planner's statistics of the seeded tables are refreshed.
"""

from __future__ import annotations

import sys
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.models import Model
from tortoise.transactions import in_transaction

from auth.accounts import create_user
from auth.clients import create_client
from auth.scopes import Scope, format_scopes
from models.accounts import User
from models.catalog import Category, Product
from models.oauth import OAuthClient
from models.orders import Order, OrderItem
from models.reviews import Review
from server.database import pending_migrations, tortoise_config
from server.seed import builders
from server.seed.writing import analyze, clear_database, keys_checked_after, write_table
from server.settings import Settings

# The store's tables, parents before children: what the seed writes and what it checks.
SEEDED_MODELS: tuple[type[Model], ...] = (Category, User, Product, Review, Order, OrderItem)
CATEGORY_COLUMNS = ("id", "name", "slug", "parent_id", "created_at", "updated_at")
USER_COLUMNS = ("id", "email", "name", "created_at", "updated_at")
PRODUCT_COLUMNS = (
    "id", "sku", "name", "slug", "description", "price_minor", "currency", "stock",
    "category_id", "review_count", "rating_total", "rating_average", "search_name",
    "search_text", "created_at", "updated_at",
)  # fmt: skip
REVIEW_COLUMNS = ("id", "rating", "body", "author_id", "product_id", "created_at")
ORDER_COLUMNS = (
    "id", "public_id", "number", "customer_id", "status", "cancel_reason", "total_minor",
    "currency", "created_at", "updated_at",
)  # fmt: skip
ORDER_ITEM_COLUMNS = ("id", "order_id", "product_id", "quantity", "unit_price_minor")


@dataclass(frozen=True)
class SeedSizes:
    """How many rows of each kind to create."""

    categories: int = 20
    products: int = 2000
    users: int = 500
    reviews: int = 20000
    orders: int = 5000

    def problems(self) -> list[str]:
        """Why these sizes cannot be seeded (empty when they can)."""
        found = [
            f"--{size.name} must not be negative"
            for size in fields(self)
            if getattr(self, size.name) < 0
        ]
        if self.reviews > self.users * self.products:
            found.append(
                "--reviews must not exceed --users times --products "
                "(one review per user and product)"
            )
        if self.orders and not (self.users and self.products):
            found.append("--orders needs at least one user and one product")
        return found


def _stamped(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Rows whose last value, the creation time, is also their last update."""
    for row in rows:
        yield (*row, row[-1])


async def database_has_data() -> bool:
    """Whether any of the store's tables holds a row."""
    for model in SEEDED_MODELS:
        if await model.exists():
            return True
    return False


async def seed_database(sizes: SeedSizes, *, seed: int, currency: str, reset: bool = False) -> None:
    """Write a seed's rows in one transaction; with `reset`, clear the store's tables first.

    Tortoise must already be initialised. Without `reset` the tables must be empty.
    """
    async with in_transaction() as connection:
        if reset:
            await clear_database(connection, SEEDED_MODELS)
        async with keys_checked_after(connection, SEEDED_MODELS):
            await _write_tables(connection, sizes, seed, currency)
    # Fresh rows have no statistics until analyzed: PostgreSQL would plan a listing's
    # review window as a scan of every review.
    await analyze(get_connection("default"), SEEDED_MODELS)


async def _write_tables(
    connection: BaseDBAsyncClient, sizes: SeedSizes, seed: int, currency: str
) -> None:
    categories, assortment = builders.categories(sizes.categories)
    facts = builders.product_facts(seed, sizes.products, categories, assortment)
    user_times = builders.Timeline()
    await write_table(
        connection, Category, CATEGORY_COLUMNS, _stamped(iter(categories)), len(categories)
    )
    await write_table(
        connection,
        User,
        USER_COLUMNS,
        _stamped(builders.users(seed, sizes.users, user_times)),
        sizes.users,
    )
    user_times.index()
    # Reviews before their products, whose rows carry the figures the reviews add up.
    figures = builders.RatingFigures.empty(sizes.products)
    await write_table(
        connection,
        Review,
        REVIEW_COLUMNS,
        builders.reviews(seed, sizes.reviews, user_times, facts, figures),
        sizes.reviews,
    )
    await write_table(
        connection,
        Product,
        PRODUCT_COLUMNS,
        _stamped(
            builders.products(seed, sizes.products, categories, assortment, currency, figures)
        ),
        sizes.products,
    )
    # The order lines wait in one flat array of their values (40 bytes a line, where
    # tuples took about 180) while the orders are written.
    items = array("q")
    await write_table(
        connection,
        Order,
        ORDER_COLUMNS,
        _stamped(_orders_keeping_items(seed, sizes, user_times, facts, currency, items)),
        sizes.orders,
    )
    width = len(ORDER_ITEM_COLUMNS)
    lines = zip(*[iter(items)] * width, strict=True)
    await write_table(connection, OrderItem, ORDER_ITEM_COLUMNS, lines, len(items) // width)


def _orders_keeping_items(
    seed: int,
    sizes: SeedSizes,
    user_times: builders.Timeline,
    facts: builders.ProductFacts,
    currency: str,
    items: array[int],
) -> Iterator[tuple[Any, ...]]:
    for placed in builders.orders(seed, sizes.orders, user_times, facts, currency):
        for item in placed.items:
            items.extend(item)
        yield placed.order


async def run_seed(
    settings: Settings, sizes: SeedSizes, *, seed: int, reset: bool, if_empty: bool
) -> int:
    """`storefront seed`: initialise Tortoise, check the database, seed it; the exit code."""
    problems = sizes.problems()
    if problems:
        print(f"seed: {'; '.join(problems)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        if await pending_migrations():
            print(
                "seed: the database is not migrated; run `storefront migrate` first",
                file=sys.stderr,
            )
            return 1
        if not reset and await database_has_data():
            if if_empty:
                print("seed: the database already has data; nothing to do", file=sys.stderr)
                return 0
            print(
                "seed: the database already has data; use --reset to replace it "
                "or --if-empty to skip",
                file=sys.stderr,
            )
            return 1
        await seed_database(sizes, seed=seed, currency=settings.currency, reset=reset)
        client_id = await create_demo_accounts()
    finally:
        await Tortoise.close_connections()
    print(f"seed: done in {time.perf_counter() - started:.1f} s (seed {seed})", file=sys.stderr)
    print(demo_instructions(client_id), file=sys.stderr)
    return 0


DEMO_STAFF = ("staff@example.com", "Sam Staff", "storefront-staff")
DEMO_CUSTOMER = ("customer@example.com", "Casey Customer", "storefront-customer")
DEMO_CLIENT = "Storefront demo web app"
# Vite's default address, by both names. The demo client is public, so any port of these
# loopback URIs is accepted too (auth/clients.py).
DEMO_REDIRECT_URIS = ("http://localhost:5173/callback", "http://127.0.0.1:5173/callback")
DEMO_SCOPES = format_scopes(Scope)


async def create_demo_accounts() -> str:
    """A staff user, a customer (both able to sign in, with publicly known demo passwords)
    and a public browser client; returns the client's id. Runs once per database."""
    for email, name, password in (DEMO_STAFF, DEMO_CUSTOMER):
        if not await User.exists(email=email):
            await create_user(email, name, password, is_staff=email == DEMO_STAFF[0])
    existing = await OAuthClient.get_or_none(name=DEMO_CLIENT)
    if existing is not None:
        return existing.client_id
    client = await create_client(DEMO_CLIENT, DEMO_SCOPES, list(DEMO_REDIRECT_URIS), public=True)
    return client.client_id


def demo_instructions(client_id: str) -> str:
    staff, customer = DEMO_STAFF, DEMO_CUSTOMER
    return (
        "seed: demo accounts (demo passwords: never use this database in production)\n"
        f"  staff:    {staff[0]} / {staff[2]}\n"
        f"  customer: {customer[0]} / {customer[2]}\n"
        f"  public web client: {client_id} (PKCE S256; redirect URIs "
        f"{' and '.join(DEMO_REDIRECT_URIS)}, any port; `storefront list-clients` shows it)\n"
        '  a token for GraphiQL\'s Headers tab ({"Authorization": "Bearer <token>"}):\n'
        f"    .venv/bin/storefront issue-token --user {customer[0]} "
        '--scopes "profile orders:read orders:write reviews:write"'
    )

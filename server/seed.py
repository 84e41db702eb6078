"""`storefront seed`: deterministic demo data.

The same seed gives the same rows, ids and timestamps on SQLite and PostgreSQL: every
value comes from one `random.Random(seed)` and from a fixed base date, never from the
clock. The data is built in memory first, then written with bulk inserts in one
transaction, so a failed run (or a failed `--reset`) leaves the database as it was.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from graphlib import TopologicalSorter

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.transactions import in_transaction

from auth.accounts import create_user
from auth.clients import create_client
from models.accounts import User
from models.catalog import Category, Product
from models.oauth import OAuthClient
from models.orders import Order, OrderItem, OrderStatus
from models.reviews import Review
from resolvers.catalog import slugify
from server.database import APP_LABEL, pending_migrations, tortoise_config
from server.settings import Settings

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
CATALOG_SPAN = timedelta(days=180)  # products are added over the first half year
SIGNUP_SPAN = timedelta(days=300)
HISTORY_END = BASE_TIME + timedelta(days=365)
BATCH_SIZE = 2000


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


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(","))


@dataclass(frozen=True)
class _Assortment:
    """What the products of one category are: department (SKU, prices) and nouns."""

    department: _Department
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class _Department:
    """A root category, its subcategories and what each of them sells."""

    name: str
    code: str  # the SKU prefix
    shelves: tuple[tuple[str, tuple[str, ...]], ...]  # (subcategory, product nouns)
    price_range_minor: tuple[int, int]

    def everything(self) -> _Assortment:
        return _Assortment(self, tuple(noun for _shelf, nouns in self.shelves for noun in nouns))


def _department(name: str, code: str, shelves: str, low: int, high: int) -> _Department:
    """`shelves` reads "Subcategory: Noun, Noun; Subcategory: Noun"."""
    parsed = []
    for shelf in shelves.split(";"):
        subcategory, nouns = shelf.split(":")
        parsed.append((subcategory.strip(), _words(nouns)))
    return _Department(name, code, tuple(parsed), (low, high))


DEPARTMENTS = (
    _department(
        "Home & Kitchen", "HOM",
        "Cookware: Skillet, Saucepan, Stockpot, Dutch Oven;"
        " Tableware: Dinner Plate, Mug, Serving Bowl, Teapot;"
        " Storage: Storage Jar, Bread Bin, Spice Rack;"
        " Lighting: Table Lamp, Floor Lamp, Pendant Light;"
        " Bedding: Duvet Cover, Pillowcase Set, Throw Blanket;"
        " Bath: Bath Towel, Bath Mat, Soap Dispenser",
        800, 12000,
    ),
    _department(
        "Electronics", "ELE",
        "Audio: Headphones, Bluetooth Speaker, Earbuds;"
        " Cameras: Action Camera, Camera Strap, Tripod;"
        " Computer Accessories: Keyboard, Mouse, USB-C Hub, Laptop Stand;"
        " Phones & Tablets: Phone Case, Wireless Charger, Power Bank;"
        " Smart Home: Smart Plug, Smart Bulb, Video Doorbell",
        1500, 60000,
    ),
    _department(
        "Outdoors", "OUT",
        "Camping: Tent, Sleeping Bag, Camp Stove, Headlamp;"
        " Cycling: Bike Light, Bike Lock, Cycling Gloves;"
        " Garden: Trowel, Watering Can, Planter;"
        " Climbing: Climbing Rope, Chalk Bag, Harness;"
        " Fishing: Fishing Rod, Tackle Box, Landing Net",
        900, 45000,
    ),
    _department(
        "Clothing", "CLO",
        "Outerwear: Rain Jacket, Parka, Gilet;"
        " Footwear: Sneakers, Boots, Sandals;"
        " Accessories: Scarf, Belt, Beanie;"
        " Knitwear: Sweater, Cardigan, Knit Vest;"
        " Basics: T-Shirt, Hoodie, Socks",
        900, 25000,
    ),
    _department(
        "Books & Stationery", "BKS",
        "Notebooks: Notebook, Journal, Sketchbook;"
        " Pens: Fountain Pen, Gel Pen Set, Marker Set;"
        " Art Supplies: Watercolour Set, Brush Set, Easel;"
        " Planners: Weekly Planner, Wall Calendar, Desk Organiser;"
        " Cookbooks: Baking Cookbook, Vegetarian Cookbook",
        300, 6000,
    ),
    _department(
        "Sports & Fitness", "SPT",
        "Yoga: Yoga Mat, Yoga Block, Meditation Cushion;"
        " Running: Running Shoes, Running Belt, Sports Watch;"
        " Strength: Dumbbell Set, Kettlebell, Resistance Band;"
        " Team Sports: Football, Basketball, Shin Guards;"
        " Swimming: Swim Goggles, Swim Cap, Kickboard",
        500, 30000,
    ),
    _department(
        "Toys & Games", "TOY",
        "Board Games: Board Game, Card Game, Chess Set;"
        " Puzzles: Jigsaw Puzzle, Puzzle Cube, Brain Teaser;"
        " Building Sets: Building Set, Marble Run, Wooden Train;"
        " Plush: Plush Bear, Plush Fox, Plush Whale;"
        " Outdoor Play: Kite, Frisbee, Water Blaster",
        400, 9000,
    ),
)  # fmt: skip
ADJECTIVES = _words(
    "Classic, Compact, Deluxe, Everyday, Lightweight, Premium, Rugged, Slim, Vintage, Modern,"
    " Essential, Pro, Eco, Heritage, Nordic, Urban"
)
COLOURS = _words(
    "Navy, Sage, Charcoal, Terracotta, Ivory, Slate, Forest, Sand, Crimson, Ocean, Stone,"
    " Midnight, Amber, Graphite, Olive, Coral"
)
USES = _words(
    "everyday use, weekend trips, small spaces, gifting, beginners, seasoned enthusiasts,"
    " busy mornings, the whole family"
)
FEATURES = (
    "Built to last, with a two-year warranty.",
    "Easy to clean and easy to store.",
    "Designed in-house and tested by our team.",
    "Made from responsibly sourced materials.",
    "Ships in plastic-free packaging.",
    "Backed by free returns within 30 days.",
)
FIRST_NAMES = _words(
    "Ada, Ben, Chloe, Dev, Elena, Farah, Gus, Hana, Ivan, Jade, Kofi, Lena, Mateo, Nora, Omar,"
    " Priya, Quinn, Rosa, Sami, Tess, Umar, Vera, Wei, Ximena, Yusuf, Zoe"
)
LAST_NAMES = _words(
    "Andersen, Brown, Chen, Dubois, Esposito, Fischer, Garcia, Haddad, Ito, Jensen, Kowalski,"
    " Lopez, Murphy, Nakamura, Okafor, Patel, Quispe, Rossi, Silva, Tanaka, Usman, Varga,"
    " Williams, Yilmaz"
)
REVIEW_OPENINGS = {
    1: ("Very disappointed.", "Would not buy again.", "Broke within a week."),
    2: ("Not great.", "Expected more for the price.", "It does the job, barely."),
    3: ("It's fine.", "Decent, nothing special.", "Mixed feelings about this one."),
    4: ("Really good.", "Happy with this purchase.", "Solid and well made."),
    5: ("Absolutely love it!", "Best purchase this year.", "Exceeded my expectations."),
}
REVIEW_DETAILS = (
    "Arrived quickly and well packed.",
    "The quality is what you would expect.",
    "Looks exactly like the photos.",
    "Sizing runs a little small.",
    "I use it every day.",
    "Bought a second one as a gift.",
    "Customer service was helpful.",
    "The finish feels premium.",
    "Took a while to arrive.",
    "Instructions could be clearer.",
)
# Ratings lean positive, as in most shops; each product then shifts them a little.
RATING_WEIGHTS = (4, 6, 12, 33, 45)
ITEM_COUNT_WEIGHTS = (45, 30, 15, 10)
QUANTITY_WEIGHTS = (60, 22, 10, 5, 3)
STATUS_WEIGHTS = {
    OrderStatus.PENDING: 10,
    OrderStatus.PAID: 15,
    OrderStatus.SHIPPED: 15,
    OrderStatus.DELIVERED: 50,
    OrderStatus.CANCELLED: 10,
}


# The store's tables, parents before children: what the seed writes and what it checks.
SEEDED_MODELS: tuple[type[Model], ...] = (Category, User, Product, Review, Order, OrderItem)


@dataclass
class DemoData:
    """Every row of a seed."""

    categories: list[Category]
    users: list[User]
    products: list[Product]
    reviews: list[Review]
    orders: list[Order]
    order_items: list[OrderItem]

    def tables(self) -> list[tuple[type[Model], Sequence[Model]]]:
        """Each model with its rows, in the order of SEEDED_MODELS."""
        rows: list[Sequence[Model]] = [
            self.categories,
            self.users,
            self.products,
            self.reviews,
            self.orders,
            self.order_items,
        ]
        return list(zip(SEEDED_MODELS, rows, strict=True))


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second between start and end, so both databases store it exactly."""
    return start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))


def build_categories(count: int) -> tuple[list[Category], dict[int, _Assortment]]:
    """A few departments with subcategories under them, and what each category sells."""
    roots = min(len(DEPARTMENTS), max(1, math.ceil(count / 5)))
    categories: list[Category] = []
    assortment: dict[int, _Assortment] = {}

    def add(name: str, slug: str, parent_id: int | None, sells: _Assortment) -> None:
        number = len(categories) + 1
        created_at = BASE_TIME + timedelta(minutes=number)
        categories.append(
            Category(id=number, name=name, slug=slug, parent_id=parent_id, created_at=created_at)
        )
        assortment[number] = sells

    for department in DEPARTMENTS[:roots]:
        add(department.name, slugify(department.name), None, department.everything())
    for position in range(count - roots):
        parent = categories[position % roots]
        department = assortment[parent.id].department
        round_, which = divmod(position // roots, len(department.shelves))
        shelf, nouns = department.shelves[which]
        # Past the named subcategories, number further ones ("Cookware 2").
        name = shelf + (f" {round_ + 1}" if round_ else "")
        add(name, f"{parent.slug}-{slugify(name)}", parent.id, _Assortment(department, nouns))
    return categories, assortment


def build_users(rng: random.Random, count: int) -> list[User]:
    """The demo customers, `user0001@example.com` and on, who cannot sign in (no
    password); `create_demo_accounts` adds the accounts that can."""
    return [
        User(
            id=number,
            email=f"user{number:04d}@example.com",
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            password_hash=None,
            is_staff=False,
            created_at=_moment(rng, BASE_TIME, BASE_TIME + SIGNUP_SPAN),
        )
        for number in range(1, count + 1)
    ]


def _price_minor(rng: random.Random, low: int, high: int) -> int:
    """A shop-like price: log-uniform in the range, ending in .99, .95, .49 or .00."""
    whole = max(1, int(math.exp(rng.uniform(math.log(low), math.log(high)))) // 100)
    return whole * 100 + rng.choice((99, 99, 95, 49, 0))


def build_products(
    rng: random.Random,
    count: int,
    categories: list[Category],
    assortment: dict[int, _Assortment],
    currency: str,
) -> list[Product]:
    """Products in the leaf categories (or the roots when there are no leaves)."""
    leaves = [category for category in categories if category.parent_id is not None] or categories
    products: list[Product] = []
    slugs: set[str] = set()
    for number in range(1, count + 1):
        category = rng.choice(leaves) if leaves else None
        sells = assortment[category.id] if category else DEPARTMENTS[0].everything()
        department = sells.department
        adjective = rng.choice(ADJECTIVES)
        name = f"{adjective} {rng.choice(COLOURS)} {rng.choice(sells.nouns)}"
        slug = slugify(name)
        if slug in slugs:
            slug = f"{slug}-{number}"
        slugs.add(slug)
        products.append(
            Product(
                id=number,
                sku=f"{department.code}-{number:05d}",
                name=name,
                slug=slug,
                description=(
                    f"The {name} is a {adjective.lower()} choice for {rng.choice(USES)}. "
                    f"{rng.choice(FEATURES)}"
                ),
                price_minor=_price_minor(rng, *department.price_range_minor),
                currency=currency,
                stock=0 if rng.random() < 0.08 else rng.randint(1, 200),
                category_id=category.id if category else None,
                review_count=0,
                rating_total=0,
                rating_average=0.0,
                created_at=_moment(rng, BASE_TIME, BASE_TIME + CATALOG_SPAN),
            )
        )
    return products


def _review_pairs(
    rng: random.Random, count: int, users: list[User], products: list[Product]
) -> list[tuple[User, Product]]:
    """Distinct (author, product) pairs; popular products collect more reviews."""
    total = len(users) * len(products)
    if count > total // 2:
        # Nearly every pair is wanted: sampling codes avoids endless rejections.
        return [
            (users[code // len(products)], products[code % len(products)])
            for code in sorted(rng.sample(range(total), count))
        ]
    popularity = list(itertools.accumulate(min(rng.paretovariate(1.5), 20.0) for _ in products))
    seen: set[tuple[int, int]] = set()
    pairs: list[tuple[User, Product]] = []
    while len(pairs) < count:
        product = rng.choices(products, cum_weights=popularity)[0]
        author = rng.choice(users)
        if (author.id, product.id) not in seen:
            seen.add((author.id, product.id))
            pairs.append((author, product))
    return pairs


def build_reviews(
    rng: random.Random, count: int, users: list[User], products: list[Product]
) -> list[Review]:
    """Reviews with ids in order of time; fills in each product's rating figures."""
    leaning = {product.id: max(-2, min(1, round(rng.gauss(0, 0.7)))) for product in products}
    drafts = []
    for author, product in _review_pairs(rng, count, users, products):
        drawn = rng.choices(range(1, 6), weights=RATING_WEIGHTS)[0]
        rating = max(1, min(5, drawn + leaning[product.id]))
        body = f"{rng.choice(REVIEW_OPENINGS[rating])} {rng.choice(REVIEW_DETAILS)}"
        since = max(author.created_at, product.created_at)
        drafts.append((_moment(rng, since, HISTORY_END), product.id, author.id, rating, body))
    drafts.sort()
    reviews = [
        Review(
            id=number,
            rating=rating,
            body=body,
            author_id=author_id,
            product_id=product_id,
            created_at=created_at,
        )
        for number, (created_at, product_id, author_id, rating, body) in enumerate(drafts, 1)
    ]
    by_id = {product.id: product for product in products}
    for review in reviews:
        product = by_id[review.product_id]
        product.review_count += 1
        product.rating_total += review.rating
    for product in products:
        product.rating_average = (
            product.rating_total / product.review_count if product.review_count else 0.0
        )
    return reviews


def build_orders(
    rng: random.Random, count: int, users: list[User], products: list[Product], currency: str
) -> tuple[list[Order], list[OrderItem]]:
    """Orders (ids and numbers in order of time) of products that existed at the time."""
    catalog = sorted(products, key=lambda product: (product.created_at, product.id))
    launched = [product.created_at for product in catalog]
    drafts = []
    for _ in range(count):
        customer = rng.choice(users)
        placed = _moment(rng, max(customer.created_at, launched[0]), HISTORY_END)
        available = bisect.bisect_right(launched, placed)
        wanted = rng.choices(range(1, 5), weights=ITEM_COUNT_WEIGHTS)[0]
        lines = [
            (catalog[index], rng.choices(range(1, 6), weights=QUANTITY_WEIGHTS)[0])
            for index in rng.sample(range(available), min(wanted, available))
        ]
        status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        drafts.append((placed, customer.id, status, lines))
    drafts.sort(key=lambda draft: (draft[0], draft[1]))
    orders: list[Order] = []
    items: list[OrderItem] = []
    for number, (placed, customer_id, status, lines) in enumerate(drafts, 1):
        for product, quantity in lines:
            items.append(
                OrderItem(
                    id=len(items) + 1,
                    order_id=number,
                    product_id=product.id,
                    quantity=quantity,
                    unit_price_minor=product.price_minor,
                )
            )
        orders.append(
            Order(
                id=number,
                number=f"SF-{number:06d}",
                customer_id=customer_id,
                status=status,
                idempotency_key=None,
                total_minor=sum(product.price_minor * quantity for product, quantity in lines),
                currency=currency,
                created_at=placed,
            )
        )
    return orders, items


def build_demo_data(sizes: SeedSizes, seed: int, currency: str) -> DemoData:
    """All rows of a seed, built in memory (the models must be initialised, no query runs)."""
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets: it must be reproducible)
    categories, assortment = build_categories(sizes.categories)
    users = build_users(rng, sizes.users)
    products = build_products(rng, sizes.products, categories, assortment, currency)
    reviews = build_reviews(rng, sizes.reviews, users, products)
    orders, order_items = build_orders(rng, sizes.orders, users, products, currency)
    return DemoData(categories, users, products, reviews, orders, order_items)


def _is_postgres(connection: BaseDBAsyncClient) -> bool:
    return connection.capabilities.dialect == "postgres"


def _quote(table: str) -> str:
    return f'"{table}"'


def _app_models() -> list[type[Model]]:
    assert Tortoise.apps is not None, "Tortoise is not initialised"
    return list(Tortoise.apps[APP_LABEL].values())


def _foreign_keys(model: type[Model]) -> list[tuple[str, type[Model], bool]]:
    """(column, referenced model, nullable) of each foreign key and one-to-one key."""
    keys = []
    for name in sorted(model._meta.fk_fields | model._meta.o2o_fields):
        field = model._meta.fields_map[name]
        keys.append((field.source_field or f"{name}_id", field.related_model, field.null))  # type: ignore[attr-defined]
    return keys


def _store_tables_children_first() -> list[str]:
    """The seeded tables and the tables pointing at them, each before those it points to.

    A user's OAuth tokens go with the user; OAuth clients and signing keys stay.
    """
    points_to = {
        model._meta.db_table: {
            target._meta.db_table
            for _column, target, _null in _foreign_keys(model)
            if target is not model
        }
        for model in _app_models()
    }
    store = {model._meta.db_table for model in SEEDED_MODELS}
    while dependents := {table for table, targets in points_to.items() if targets & store} - store:
        store |= dependents
    referrers = {
        table: {other for other in store if table in points_to[other]} for table in sorted(store)
    }
    return list(TopologicalSorter(referrers).static_order())


async def database_has_data() -> bool:
    """Whether any of the store's tables holds a row."""
    for model in SEEDED_MODELS:
        if await model.exists():
            return True
    return False


async def clear_database(connection: BaseDBAsyncClient) -> None:
    """Delete the store's rows (and rows pointing at them) and restart their ids at 1."""
    tables = _store_tables_children_first()
    if _is_postgres(connection):
        names = ", ".join(_quote(table) for table in tables)
        await connection.execute_query(f"TRUNCATE {names} RESTART IDENTITY")
        return
    # SQLite checks ON DELETE RESTRICT row by row, so a table pointing at itself (a
    # category's parent) refuses to empty itself: cut those links first.
    for model in SEEDED_MODELS:
        for column, target, nullable in _foreign_keys(model):
            if target is model and nullable:
                await connection.execute_query(
                    f"UPDATE {_quote(model._meta.db_table)} SET {_quote(column)} = NULL"  # noqa: S608
                )
    for table in tables:
        await connection.execute_query(f"DELETE FROM {_quote(table)}")  # noqa: S608
    placeholders = ", ".join("?" for _ in tables)
    await connection.execute_query(
        f"DELETE FROM sqlite_sequence WHERE name IN ({placeholders})",  # noqa: S608
        tables,
    )


async def _insert(connection: BaseDBAsyncClient, model: type[Model], rows: Sequence[Model]) -> None:
    table = _quote(model._meta.db_table)
    await model.bulk_create(rows, batch_size=BATCH_SIZE, using_db=connection)
    if "updated_at" in model._meta.fields_map:
        # `auto_now` stamped the clock into updated_at; make it reproducible again.
        await connection.execute_query(f"UPDATE {table} SET updated_at = created_at")  # noqa: S608
    if _is_postgres(connection):
        # Explicit ids leave the id sequence behind; the next ordinary insert must not collide.
        await connection.execute_query(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
        )
    print(f"seed: {model._meta.db_table} {len(rows)}/{len(rows)}", file=sys.stderr)


async def seed_database(sizes: SeedSizes, *, seed: int, currency: str, reset: bool = False) -> None:
    """Write a seed's rows in one transaction; with `reset`, clear the store's tables first.

    Tortoise must already be initialised. Without `reset` the tables must be empty.
    """
    data = build_demo_data(sizes, seed, currency)
    async with in_transaction() as connection:
        if reset:
            await clear_database(connection)
        for model, rows in data.tables():
            await _insert(connection, model, rows)


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
DEMO_SCOPES = "profile orders:read orders:write reviews:write catalog:write orders:manage"


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

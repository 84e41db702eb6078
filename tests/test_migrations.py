"""The migrations build exactly what the models declare, on SQLite and on PostgreSQL.

Each test migrates a database of its own, created empty for it. The schema is read back
through the database's catalogue with plain SQL: initialising the ORM on a second
database in this process would rebind the models' queries to that database's dialect.
"""

from __future__ import annotations

import os
import pkgutil
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.exceptions import IntegrityError
from tortoise.migrations.api import migrate as migrate_to
from tortoise.migrations.api.migrate import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

import migrations
from server.database import APP_LABEL, apply_migrations, tortoise_config
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    port_open,
    require_service,
)

PRODUCT_IN_STOCK = (
    "INSERT INTO product (id, sku, name, slug, description, price_minor, currency, stock, "
    "review_count, rating_total, rating_average, created_at, updated_at) VALUES (1, 'LMP-1', "
    "'Lamp', 'lamp', '', 1999, 'USD', 1, 0, 0, 0, '2025-01-01 00:00:00+00:00', "
    "'2025-01-01 00:00:00+00:00')"
)
PRODUCT_BELOW_ZERO = (
    "INSERT INTO product (id, sku, name, slug, description, price_minor, currency, stock, "
    "review_count, rating_total, rating_average, created_at, updated_at) VALUES (2, 'LMP-2', "
    "'Lamp', 'lamp-2', '', 1999, 'USD', -1, 0, 0, 0, '2025-01-01 00:00:00+00:00', "
    "'2025-01-01 00:00:00+00:00')"
)
CUSTOMER = (
    'INSERT INTO "user" (id, email, name, is_staff, created_at, updated_at) VALUES '
    "(1, 'ada@example.com', 'Ada', FALSE, '2025-01-01 00:00:00+00:00', "
    "'2025-01-01 00:00:00+00:00')"
)
REVIEW_RATED_6 = (
    "INSERT INTO review (id, rating, body, author_id, product_id, created_at) VALUES "
    "(1, 6, 'Better than perfect', 1, 1, '2025-01-02 00:00:00+00:00')"
)
REVIEW_RATED_5 = (
    "INSERT INTO review (id, rating, body, author_id, product_id, created_at) VALUES "
    "(1, 5, 'Perfect', 1, 1, '2025-01-02 00:00:00+00:00')"
)


@dataclass(frozen=True)
class IndexInfo:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass
class Schema:
    """What the database really has, table by table."""

    columns: dict[str, set[str]]
    indexes: dict[str, list[IndexInfo]]
    checks: dict[str, set[str]]


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a database that exists and holds nothing yet."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"storefront_migrations_{os.getpid()}"
    url = await create_postgres_database(name)
    yield url
    await drop_postgres_database(name)


async def migrate(url: str) -> None:
    # A context of its own, so the session's ORM (another database) stays untouched.
    async with TortoiseContext():
        await apply_migrations(url)


@asynccontextmanager
async def orm_context(url: str) -> AsyncIterator[TortoiseContext]:
    """Models loaded and a lazily opened connection to `url`, without rebinding queries."""
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url), init_connections=False)
        yield context


def app_models(context: TortoiseContext) -> list[type[Model]]:
    assert context.apps is not None
    return list(context.apps[APP_LABEL].values())


def column(model: type[Model], field_name: str) -> str:
    field = model._meta.fields_map[field_name]
    return field.source_field or model._meta.fields_db_projection[field_name]


async def read_sqlite_schema(connection: BaseDBAsyncClient) -> Schema:
    tables = await connection.execute_query_dict(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    schema = Schema(columns={}, indexes={}, checks={})
    for table in tables:
        name = table["name"]
        rows = await connection.execute_query_dict("SELECT name FROM pragma_table_info(?)", [name])
        schema.columns[name] = {row["name"] for row in rows}
        index_rows = await connection.execute_query_dict(
            'SELECT il.name, il."unique", ii.name AS column FROM pragma_index_list(?) AS il '
            "JOIN pragma_index_info(il.name) AS ii ORDER BY il.name, ii.seqno",
            [name],
        )
        columns_of: dict[tuple[str, bool], list[str]] = {}
        for row in index_rows:
            columns_of.setdefault((row["name"], bool(row["unique"])), []).append(row["column"])
        schema.indexes[name] = [
            IndexInfo(index, tuple(columns), unique)
            for (index, unique), columns in columns_of.items()
        ]
        schema.checks[name] = set(re.findall(r'CONSTRAINT "([^"]+)" CHECK', table["sql"]))
    return schema


async def read_postgres_schema(connection: BaseDBAsyncClient) -> Schema:
    schema = Schema(columns={}, indexes={}, checks={})
    for row in await connection.execute_query_dict(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'"
    ):
        schema.columns.setdefault(row["table_name"], set()).add(row["column_name"])
    for row in await connection.execute_query_dict(
        "SELECT t.relname AS table_name, i.relname AS index_name, ix.indisunique AS is_unique, "
        "array_agg(a.attname ORDER BY k.position) AS columns "
        "FROM pg_index ix "
        "JOIN pg_class t ON t.oid = ix.indrelid "
        "JOIN pg_class i ON i.oid = ix.indexrelid "
        "JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) ON true "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
        "WHERE t.relnamespace = 'public'::regnamespace "
        "GROUP BY t.relname, i.relname, ix.indisunique"
    ):
        schema.indexes.setdefault(row["table_name"], []).append(
            IndexInfo(row["index_name"], tuple(row["columns"]), row["is_unique"])
        )
    for row in await connection.execute_query_dict(
        "SELECT t.relname AS table_name, c.conname FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid "
        "WHERE c.contype = 'c' AND t.relnamespace = 'public'::regnamespace"
    ):
        schema.checks.setdefault(row["table_name"], set()).add(row["conname"])
    return schema


async def read_schema(connection: BaseDBAsyncClient) -> Schema:
    if connection.capabilities.dialect == "postgres":
        return await read_postgres_schema(connection)
    return await read_sqlite_schema(connection)


# Columns a model cannot declare: PostgreSQL's generated `tsvector` of a product's
# searched words (migration 0008, resolvers.search), which SQLite does without.
UNDECLARED_COLUMNS = {"product": {"search_vector"}}


def schema_problems(model: type[Model], schema: Schema) -> list[str]:
    """Everything `model` declares that the database lacks (empty when all is there)."""
    meta = model._meta
    table = meta.db_table
    if table not in schema.columns:
        return [f"table {table} is missing"]
    problems = []
    declared_columns = set(meta.fields_db_projection.values())
    if schema.columns[table] - UNDECLARED_COLUMNS.get(table, set()) != declared_columns:
        actual = sorted(schema.columns[table])
        problems.append(f"{table}: columns {actual}, models say {sorted(declared_columns)}")
    indexes = schema.indexes.get(table, [])

    def require_index(columns: tuple[str, ...], *, unique: bool, name: str | None = None) -> None:
        if not any(
            index.columns == columns
            and (index.unique or not unique)
            and (name is None or index.name == name)
            for index in indexes
        ):
            kind = "unique index" if unique else "index"
            problems.append(f"{table}: no {kind}{f' {name}' if name else ''} on {columns}")

    for field_name, column_name in meta.fields_db_projection.items():
        field = meta.fields_map[field_name]
        if field.pk:
            continue
        if field.unique:
            require_index((column_name,), unique=True)
        elif field.index:
            require_index((column_name,), unique=False)
    for together in meta.unique_together:
        require_index(tuple(column(model, name) for name in together), unique=True)
    for index in meta.indexes:
        # Meta.indexes holds Index objects, or plain tuples of field names (unnamed).
        names, index_name = (
            (index, None) if isinstance(index, tuple) else (index.fields, index.name)
        )
        require_index(tuple(column(model, name) for name in names), unique=False, name=index_name)
    for constraint in meta.constraints:
        if isinstance(constraint, CheckConstraint):
            if constraint.name not in schema.checks.get(table, set()):
                problems.append(f"{table}: CHECK constraint {constraint.name} is missing")
        elif isinstance(constraint, UniqueConstraint):
            columns = tuple(column(model, name) for name in constraint.fields)
            require_index(columns, unique=True, name=constraint.name)
    return problems


async def applied_migrations(connection: BaseDBAsyncClient) -> list[tuple[str, str, object]]:
    rows = await connection.execute_query_dict(
        "SELECT app, name, applied_at FROM tortoise_migrations ORDER BY id"
    )
    return [(row["app"], row["name"], row["applied_at"]) for row in rows]


def migration_names() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(migrations.__path__))


async def test_models_need_no_new_migration() -> None:
    """What `tortoise makemigrations` would print as "No changes detected" (writes nothing)."""
    config = tortoise_config("sqlite://:memory:")
    async with orm_context("sqlite://:memory:") as context:
        assert context.apps is not None
        writers = await MigrationAutodetector(context.apps, config["apps"]).changes()
    pending = [operation.describe() for writer in writers for operation in writer.operations]
    assert pending == [], "models changed without a migration: run `tortoise makemigrations`"


async def test_migrations_create_every_table_column_index_and_check(empty_database: str) -> None:
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        schema = await read_schema(context.db())
        problems = [
            problem for model in app_models(context) for problem in schema_problems(model, schema)
        ]
    assert problems == []


async def test_check_constraints_refuse_bad_rows(empty_database: str) -> None:
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        connection = context.db()
        await connection.execute_query(PRODUCT_IN_STOCK)
        with pytest.raises(IntegrityError):
            await connection.execute_query(PRODUCT_BELOW_ZERO)
        await connection.execute_query(CUSTOMER)
        with pytest.raises(IntegrityError):
            await connection.execute_query(REVIEW_RATED_6)
        await connection.execute_query(REVIEW_RATED_5)
        products = await connection.execute_query_dict("SELECT id, stock FROM product")
        reviews = await connection.execute_query_dict("SELECT id, rating FROM review")
    assert products == [{"id": 1, "stock": 1}]
    assert reviews == [{"id": 1, "rating": 5}]


async def test_applying_migrations_again_changes_nothing(empty_database: str) -> None:
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        schema_before = await read_schema(context.db())
        applied_before = await applied_migrations(context.db())
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        schema_after = await read_schema(context.db())
        applied_after = await applied_migrations(context.db())
    assert [(app, name) for app, name, _ in applied_before] == [
        (APP_LABEL, name) for name in migration_names()
    ]
    assert applied_after == applied_before
    assert schema_after == schema_before


ORDERS_BEFORE_0004 = [
    'INSERT INTO "order" (id, number, customer_id, status, total_minor, currency, created_at, '
    f"updated_at) VALUES ({n}, 'SF-00000{n}', 1, '{status}', 1999, 'USD', "
    "'2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00')"
    for n, status in ((1, "PENDING"), (2, "PAID"), (3, "PENDING"))
]


async def test_0004_gives_existing_orders_random_public_ids_and_holds(empty_database: str) -> None:
    async with TortoiseContext():
        await migrate_to(config=tortoise_config(empty_database), target="storefront.0003_oauth")
    async with orm_context(empty_database) as context:
        connection = context.db()
        await connection.execute_query(CUSTOMER)
        for statement in ORDERS_BEFORE_0004:
            await connection.execute_query(statement)
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        rows = await context.db().execute_query_dict(
            'SELECT id, public_id, number, hold_expires_at FROM "order" ORDER BY id'
        )
    public_ids = [row["public_id"] for row in rows]
    assert all(re.fullmatch(r"[0-9a-f]{32}", public_id) for public_id in public_ids), rows
    assert len(set(public_ids)) == 3
    # Numbers customers were told stay; a PENDING order holds its stock from the upgrade on.
    assert [row["number"] for row in rows] == ["SF-000001", "SF-000002", "SF-000003"]
    assert [row["hold_expires_at"] is not None for row in rows] == [True, False, True]


def test_storefront_migrate_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "cli.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env={**os.environ, "DATABASE_URL": f"sqlite://{database}"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stderr
    with sqlite3.connect(database) as connection:
        applied = [row[0] for row in connection.execute("SELECT name FROM tortoise_migrations")]
    assert sorted(applied) == migration_names()


async def test_accounts_migration_keeps_existing_users_active(empty_database: str) -> None:
    """0005 adds `is_active` and `tokens_valid_after`: users created before it stay able to
    sign in, with no session cut-off."""
    async with TortoiseContext():
        try:
            await tortoise_migrate(
                config=tortoise_config(empty_database), target=f"{APP_LABEL}.0003_oauth"
            )
        finally:
            await Tortoise.close_connections()
    async with orm_context(empty_database) as context:
        await context.db().execute_query(CUSTOMER)
    await migrate(empty_database)
    async with orm_context(empty_database) as context:
        rows = await context.db().execute_query_dict(
            'SELECT id, is_active, tokens_valid_after FROM "user"'
        )
    assert [(row["id"], bool(row["is_active"]), row["tokens_valid_after"]) for row in rows] == [
        (1, True, None)
    ]

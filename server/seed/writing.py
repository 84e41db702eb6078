"""Writing a seed: batches of rows into each table, progress, ids and statistics after.

PostgreSQL takes each table's rows through one COPY, SQLite through one prepared INSERT
per batch:
Tortoise's bulk_create built a model per row, which made the 100x catalog of
`benchmarks.scale` (200,000 products, 2,000,000 reviews; it prints the seed's time and
peak memory) slow to load and large in memory. Columns a builder does not give get the
model's default.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from graphlib import TopologicalSorter
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.base import Field
from tortoise.models import Model

from server.database import APP_LABEL

BATCH_SIZE = 5000
PROGRESS_SECONDS = 3.0
INDEX_BUILD_MEMORY = "256MB"


def is_postgres(connection: BaseDBAsyncClient) -> bool:
    return connection.capabilities.dialect == "postgres"


def _quote(name: str) -> str:
    return f'"{name}"'


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


def store_tables_children_first(seeded: Sequence[type[Model]]) -> list[str]:
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
    store = {model._meta.db_table for model in seeded}
    while dependents := {table for table, targets in points_to.items() if targets & store} - store:
        store |= dependents
    referrers = {
        table: {other for other in store if table in points_to[other]} for table in sorted(store)
    }
    return list(TopologicalSorter(referrers).static_order())


async def clear_database(connection: BaseDBAsyncClient, seeded: Sequence[type[Model]]) -> None:
    """Delete the store's rows (and rows pointing at them) and restart their ids at 1."""
    tables = store_tables_children_first(seeded)
    if is_postgres(connection):
        names = ", ".join(_quote(table) for table in tables)
        await connection.execute_query(f"TRUNCATE {names} RESTART IDENTITY")
        return
    # SQLite checks ON DELETE RESTRICT row by row, so a table pointing at itself (a
    # category's parent) refuses to empty itself: cut those links first.
    for model in seeded:
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


# The seeded tables' foreign keys, unique keys other than those a foreign key points at,
# and indexes other than primary keys: what `keys_checked_after` drops and makes again.
_DEFERRED_CONSTRAINTS = """
SELECT c.contype, c.conrelid::regclass::text AS table_name, quote_ident(c.conname) AS name,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint c
WHERE c.conrelid = ANY($1::regclass[])
  AND (c.contype = 'f' OR (c.contype = 'u' AND NOT EXISTS (
        SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)))
ORDER BY c.contype, c.conname
"""
_DEFERRED_INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
WHERE i.indrelid = ANY($1::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1
"""


@contextlib.asynccontextmanager
async def keys_checked_after(
    connection: BaseDBAsyncClient, seeded: Sequence[type[Model]]
) -> AsyncIterator[None]:
    """Load the seeded tables in any order, their keys checked once the rows are in.

    On PostgreSQL, the tables are loaded without their secondary indexes, unique keys
    and foreign keys, which are made again after (same names, same definitions): a built
    index costs a sort where a maintained one costs a descent per row, and a foreign key
    is checked by one join where it was a lookup per row (most of the 100x catalog's
    load time, `benchmarks.scale`). Primary keys stay, for the keys pointing at them.
    On SQLite, foreign keys are checked at commit. Inside the seed's transaction: a
    failure restores everything with the rows, and the tables stay locked until the
    commit (as `--reset`'s TRUNCATE locks them).
    """
    if not is_postgres(connection):
        await connection.execute_query("PRAGMA defer_foreign_keys = ON")
        yield
        return
    driver = connection._connection
    tables = [_quote(model._meta.db_table) for model in seeded]
    constraints = await driver.fetch(_DEFERRED_CONSTRAINTS, tables)
    indexes = await driver.fetch(_DEFERRED_INDEXES, tables)
    # Foreign keys before the unique keys (ordered by contype: 'f' < 'u').
    for row in constraints:
        await driver.execute(f"ALTER TABLE {row['table_name']} DROP CONSTRAINT {row['name']}")
    for row in indexes:
        await driver.execute(f"DROP INDEX {row['name']}")
    yield
    # Sorting a table's keys in memory rather than on disk.
    await driver.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
    for row in indexes:
        _say(f"making index {row['name']}")
        await driver.execute(row["definition"])
    for row in reversed(constraints):
        _say(f"making and checking {row['name']} of {row['table_name']}")
        await driver.execute(
            f"ALTER TABLE {row['table_name']} ADD CONSTRAINT {row['name']} {row['definition']}"
        )


def _defaults(model: type[Model], given: Sequence[str]) -> list[tuple[str, Callable[[], Any]]]:
    """(column, value maker) for the model's columns a builder leaves out."""
    return [
        (column, _default_of(model._meta.fields_map[name]))
        for name, column in model._meta.fields_db_projection.items()
        if column not in given
    ]


def _default_of(field: Field[Any]) -> Callable[[], Any]:
    default = field.default
    if callable(default):
        return default
    return lambda: default


def _say(news: str) -> None:
    print(f"seed: {news}", file=sys.stderr, flush=True)


class Progress:
    """One line per table every few seconds: rows written, of how many, and how fast."""

    def __init__(self, table: str, total: int) -> None:
        self.table, self.total = table, total
        self.started = self.shown = time.perf_counter()
        self.done = 0

    def add(self, rows: int) -> None:
        self.done += rows
        now = time.perf_counter()
        if now - self.shown >= PROGRESS_SECONDS:
            self.shown = now
            self.show(now)

    def show(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        _say(f"{self.table} {self.done}/{self.total} ({rate:,.0f} rows/s)")

    def finish(self) -> None:
        self.show(time.perf_counter())


def _batches(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _counted(
    batches: Iterable[list[tuple[Any, ...]]], progress: Progress
) -> Iterator[tuple[Any, ...]]:
    for batch in batches:
        yield from batch
        progress.add(len(batch))


async def write_table(
    connection: BaseDBAsyncClient,
    model: type[Model],
    columns: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    total: int,
) -> None:
    """Write `rows` (values of `columns`) into the model's table, a batch at a time."""
    table = model._meta.db_table
    defaults = _defaults(model, columns)
    names = [*columns, *(column for column, _ in defaults)]
    progress = Progress(table, total)
    batches = _batches(rows, BATCH_SIZE)
    if defaults:
        batches = (
            [(*row, *(make() for _, make in defaults)) for row in batch] for batch in batches
        )
    if is_postgres(connection):
        # One COPY for the whole table, fed as the rows are made: PostgreSQL stores a
        # batch while the next one is built (a COPY per batch left one of them idle).
        # The transaction's own asyncpg connection: COPY is asyncpg's, not Tortoise's.
        driver = connection._connection
        await driver.copy_records_to_table(
            table, records=_counted(batches, progress), columns=names
        )
        # Explicit ids leave the id sequence behind; the next ordinary insert must not collide.
        await connection.execute_query(
            f"SELECT setval(pg_get_serial_sequence('{_quote(table)}', 'id'), "  # noqa: S608
            f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {_quote(table)}"
        )
    else:
        insert = (
            f"INSERT INTO {_quote(table)} ({', '.join(_quote(name) for name in names)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        for batch in batches:
            await connection.execute_many(insert, [list(row) for row in batch])
            progress.add(len(batch))
    progress.finish()


async def analyze(connection: BaseDBAsyncClient, seeded: Sequence[type[Model]]) -> None:
    """Refresh the planner's statistics of the seeded tables."""
    for model in seeded:
        _say(f"analyzing {model._meta.db_table}")
        await connection.execute_script(f"ANALYZE {_quote(model._meta.db_table)}")

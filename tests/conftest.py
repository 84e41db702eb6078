"""Shared fixtures and helpers: databases (SQLite and PostgreSQL), the app over HTTP with
and without a database, SQL counting, error codes, real servers in child processes.

Every test that takes `db` (directly or through `client` or `settings`) runs once on
SQLite and once on PostgreSQL; a test where the database makes no difference (protocol,
parsing, limits) takes `bare_client` or `bare_settings` and runs once. Tests that need
PostgreSQL, Redis, Node.js or Chromium skip when it is missing, and fail instead when
STOREFRONT_REQUIRE_SERVICES=1 (CI sets it). Passwords are hashed at argon2's cheapest.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection

from auth import passwords
from server.database import apply_migrations, tortoise_config
from server.settings import Settings
from tests.oauth import http_client, make_app

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("STOREFRONT_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its cheapest in the test process: production cost spends about a
    second of this machine's CPU on every user a test makes. The hashes keep argon2id's
    format, and servers in child processes verify them at the cost written in them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))
        passwords._dummy_hash.cache_clear()
        yield
    passwords._dummy_hash.cache_clear()


def require_service(available: bool, reason: str) -> None:
    """Skip when a service is missing, or fail when the run requires every service."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (STOREFRONT_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_postgres_database(name: str) -> str:
    import asyncpg

    admin = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{POSTGRES_ADMIN_URL}/{name}"


async def drop_postgres_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{POSTGRES_ADMIN_URL}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `dialect("postgres")` (or "sqlite") plays what only that database
    does: it is not collected for the other one at all (not skipped: on CI a skip
    would hide a missing service)."""
    kept, dropped = [], []
    for item in items:
        marker = item.get_closest_marker("dialect")
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("database_url") if callspec else None
        if marker is not None and param is not None and param != marker.args[0]:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database of each kind, made once per test session."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path_factory.mktemp('sqlite') / 'storefront.sqlite3'}"
        await apply_migrations(url)
        yield url
        return
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"storefront_test_{os.getpid()}"
    url = await create_postgres_database(name)
    await apply_migrations(url)
    yield url
    await drop_postgres_database(name)


@pytest.fixture(scope="session")
async def orm(database_url: str) -> AsyncIterator[str]:
    """Tortoise connected to the session's database (shared by every task)."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    yield database_url
    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    # Tortoise 1.1.9 caches each model's INSERT statement by connection name, whatever
    # the dialect: without this, PostgreSQL would be sent SQLite's `?` placeholders.
    EXECUTOR_CACHE.clear()


def model_tables() -> list[str]:
    return sorted(
        model._meta.db_table for app in (Tortoise.apps or {}).values() for model in app.values()
    )


# Foreign keys between our tables, and the sequences that number their rows.
POSTGRES_FOREIGN_KEYS = """
SELECT child.relname AS child, parent.relname AS parent FROM pg_constraint
JOIN pg_class child ON child.oid = pg_constraint.conrelid
JOIN pg_class parent ON parent.oid = pg_constraint.confrelid
WHERE pg_constraint.contype = 'f' AND child.relname = ANY($1::text[])
"""
POSTGRES_SEQUENCES = """
SELECT sequence.relname AS name FROM pg_class sequence
JOIN pg_depend ON pg_depend.objid = sequence.oid
JOIN pg_class owner ON owner.oid = pg_depend.refobjid
WHERE sequence.relkind = 'S' AND owner.relname = ANY($1::text[])
"""
_postgres_emptying: dict[str, str] = {}


async def postgres_emptying_script(connection: Any, tables: list[str]) -> str:
    """DELETEs, children before parents, then each id sequence restarted. TRUNCATE would
    do it in one statement, but it makes new files for every table and index, which costs
    PostgreSQL many times more than deleting the few rows a test writes."""
    children: dict[str, set[str]] = {table: set() for table in tables}
    for key in await connection.execute_query_dict(POSTGRES_FOREIGN_KEYS, [tables]):
        if key["parent"] in children and key["parent"] != key["child"]:
            children[key["parent"]].add(key["child"])
    order = TopologicalSorter(children).static_order()
    sequences = await connection.execute_query_dict(POSTGRES_SEQUENCES, [tables])
    return "; ".join(
        [f'DELETE FROM "{table}"' for table in order]
        + [f'ALTER SEQUENCE "{sequence["name"]}" RESTART' for sequence in sequences]
    )


async def empty_all_tables() -> None:
    """Empty every table of our models and restart their ids."""
    connection = get_connection("default")
    tables = model_tables()
    if connection.capabilities.dialect == "postgres":
        key = " ".join(tables)
        if key not in _postgres_emptying:
            _postgres_emptying[key] = await postgres_emptying_script(connection, tables)
        await connection.execute_script(_postgres_emptying[key])
        return
    deletes = "; ".join(f'DELETE FROM "{table}"' for table in tables)
    await connection.execute_script(
        f"PRAGMA foreign_keys = OFF; {deletes}; DELETE FROM sqlite_sequence; "
        "PRAGMA foreign_keys = ON;"
    )


@pytest.fixture
async def db(orm: str) -> AsyncIterator[str]:
    """An empty database for one test; yields its URL."""
    yield orm
    await empty_all_tables()


@pytest.fixture
def bare_settings() -> Settings:
    """The tests' settings, with no database: a module that tunes settings overrides this
    one, and both `settings` and `bare_settings` follow."""
    return replace(Settings(), max_page_size=50)


@pytest.fixture
def settings(db: str, bare_settings: Settings) -> Settings:
    return replace(bare_settings, database_url=db)


def app_client(settings: Settings) -> httpx.AsyncClient:
    """An HTTP client speaking to a new app in process (the caller sets Tortoise up)."""
    return http_client(make_app(settings))


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in process, on a database of each kind."""
    async with app_client(settings) as http:
        yield http


@pytest.fixture
async def bare_client(bare_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in process, with no database: for protocol,
    parsing and limit checks, which run once instead of once per database."""
    async with app_client(bare_settings) as http:
        yield http


class StatementCounter(logging.Handler):
    """Counts the SQL statements Tortoise sends to the database."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().lstrip().upper()
        if message.startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.statements.append(record.getMessage())

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql() -> Iterator[StatementCounter]:
    """Counts SQL statements from here on; `sql.reset()` starts again."""
    logger = logging.getLogger("tortoise.db_client")
    counter = StatementCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(previous)


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a GraphQL document and return the decoded JSON body."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each GraphQL error in a response body."""
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def error_code(body: dict[str, Any]) -> str | None:
    """The code of a response's first GraphQL error, or None when there is none."""
    codes = error_codes(body)
    return codes[0] if codes else None


def start_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The real service under uvicorn in a child process, and its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GRAPHIQL": "true",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)], env=env, cwd=workdir
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("server did not start within 30 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def live_server(db: str, tmp_path: Path) -> Iterator[str]:
    """The real service under uvicorn in a child process, on the test's database."""
    process, base = start_server(db, tmp_path)
    try:
        wait_healthy(process, base)
        yield base
    finally:
        stop_server(process)

"""The benchmark's own PostgreSQL database: created, migrated and seeded, then dropped."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")

# Long enough for the 100x seed of benchmarks.scale.
COMMAND_SECONDS = 3600

T = TypeVar("T")


def storefront(database_url: str, *arguments: str) -> str:
    """Run a `storefront` command (migrate, seed, create-user, issue-token...) on the
    database at `database_url`; its standard output."""
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *arguments],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=COMMAND_SECONDS,
    ).stdout


def add_admin_url(parser: argparse.ArgumentParser) -> None:
    """The `--admin-url` option of every benchmark that makes its own databases."""
    parser.add_argument(
        "--admin-url",
        default=ADMIN_URL,
        help="PostgreSQL server URL without a database name (env BENCH_POSTGRES_URL)",
    )


def on_fresh_database(
    admin_url: str, name: str, benchmark: Callable[[BenchmarkDatabase], Coroutine[Any, Any, T]]
) -> T:
    """What `benchmark` returns, run on a database `name` made for it and dropped after."""
    database = BenchmarkDatabase(admin_url, name)
    asyncio.run(database.create())
    try:
        return asyncio.run(benchmark(database))
    finally:
        asyncio.run(database.drop())


class BenchmarkDatabase:
    """A fresh database on the server at `admin_url` (a URL without a database name)."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.name = name
        self.url = f"{self.admin_url}/{name}"

    async def _admin(self, statement: str) -> None:
        admin = await asyncpg.connect(f"{self.admin_url}/postgres")
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    async def create(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await self._admin(f'CREATE DATABASE "{self.name}"')

    async def drop(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def storefront(self, *arguments: str) -> str:
        """Run a `storefront` command on this database; its standard output."""
        return storefront(self.url, *arguments)

    def customer_token(self, email: str, scopes: str) -> str:
        """A new customer with this e-mail, and an access token of theirs."""
        self.storefront(
            "create-user", "--email", email, "--name", "Bench", "--password", "bench-password-1"
        )
        return self.storefront("issue-token", "--user", email, "--scopes", scopes).strip()

    async def detail_slugs(self, stride: int) -> list[str]:
        """Slugs of every `stride`-th product by id: the same pages on every run."""
        connection = await asyncpg.connect(self.url)
        try:
            rows = await connection.fetch(
                "SELECT slug FROM (SELECT slug, row_number() OVER (ORDER BY id) AS n "
                "FROM product) AS numbered WHERE n % $1 = 1 ORDER BY n",
                stride,
            )
        finally:
            await connection.close()
        return [row["slug"] for row in rows]

    async def transactions(self) -> int:
        """Transactions committed in this database so far (pg_stat_database)."""
        connection = await asyncpg.connect(f"{self.admin_url}/postgres")
        try:
            # Statistics of other backends arrive in pg_stat_database when those backends
            # flush them; reading in a fresh transaction avoids our own snapshot cache.
            await connection.execute("SELECT pg_stat_clear_snapshot()")
            count: int = await connection.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
                self.name,
            )
        finally:
            await connection.close()
        return count

    async def wait_disconnected(self) -> None:
        """Wait (up to 10 s) until no session is open on this database.

        A backend flushes its statistics when it exits, so once a stopped server's
        sessions are gone the transaction count includes everything it did.
        """
        connection = await asyncpg.connect(f"{self.admin_url}/postgres")
        try:
            for _ in range(100):
                sessions = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.name
                )
                if not sessions:
                    return
                await asyncio.sleep(0.1)
        finally:
            await connection.close()

"""Tortoise configuration, migrations, the readiness check, and the first connection."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate
from tortoise.migrations.executor import MigrationExecutor, PlanStep

from models import MODEL_MODULES

APP_LABEL = "storefront"


_APP = {"models": MODEL_MODULES, "migrations": "migrations", "default_connection": "default"}


async def _keep_session(connection: object) -> None:
    """Skip asyncpg's reset when a connection goes back to the pool.

    The default reset (unlock advisory locks, close cursors, unlisten, RESET ALL) is one
    more round trip after every statement Tortoise runs. We use none of that session
    state, and Tortoise ends every transaction itself.
    """


def _connection(database_url: str, timeout: float | None) -> dict[str, Any]:
    connection: dict[str, Any] = expand_db_url(database_url)
    credentials = connection["credentials"]
    if connection["engine"] == "tortoise.backends.asyncpg":
        credentials["reset"] = _keep_session
        # asyncpg prepares every statement; after five runs PostgreSQL may switch one to
        # a generic plan that ignores the values, and with them the index a search or a
        # keyset condition needs. Plan each execution for its values.
        server_settings = credentials.setdefault("server_settings", {})
        server_settings.setdefault("plan_cache_mode", "force_custom_plan")
        if timeout is not None:
            # Tortoise hands these to asyncpg's pool: `timeout` bounds connecting,
            # `command_timeout` every statement (BEGIN, COMMIT and ROLLBACK too) and the
            # cancel request sent after one times out; past it asyncpg raises TimeoutError
            # and drops a connection it cannot cancel on.
            credentials.setdefault("timeout", timeout)
            credentials.setdefault("command_timeout", timeout)
    elif connection["engine"] == "tortoise.backends.sqlite" and timeout is not None:
        # How long a statement waits for another connection's lock ("database is locked").
        credentials.setdefault("busy_timeout", round(timeout * 1000))
    return connection


def tortoise_config(database_url: str, timeout: float | None = None) -> dict[str, Any]:
    """The Tortoise config for one database; migrations live in the `migrations` package.

    `timeout` is the deadline in seconds for connecting and for each statement; None
    leaves statements unbounded (migrations may legitimately run long).
    """
    return {
        "connections": {"default": _connection(database_url, timeout)},
        "apps": {APP_LABEL: _APP},
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # `TORTOISE_ORM` is read by `tortoise makemigrations` (`[tool.tortoise]` in
    # pyproject.toml); made on demand so importing this module reads no environment.
    if name == "TORTOISE_ORM":
        from server.settings import load_settings

        return tortoise_config(load_settings().database_url)
    raise AttributeError(name)


async def apply_migrations(database_url: str) -> None:
    """Bring the database's schema up to the latest migration, then refresh the planner's
    statistics if anything changed (new tables and indexes start with none)."""
    planned: list[PlanStep] = []

    def remember(connection: str, plan: list[PlanStep], fake: bool, dry_run: bool) -> None:
        planned.extend(plan)

    try:
        await migrate(config=tortoise_config(database_url), reporter=remember)
        if planned:
            await get_connection("default").execute_script("ANALYZE")
    finally:
        await Tortoise.close_connections()


async def pending_migrations() -> list[str]:
    """Names of migrations not yet applied to the connected database."""
    apps = Tortoise.apps
    if apps is None:
        return ["<orm not initialised>"]
    executor = MigrationExecutor(get_connection("default"), {APP_LABEL: _APP})
    steps = await executor.plan(None)
    return [step.migration.name for step in steps if not step.backward]


# How long the first connection may take before a command gives up and says so.
CONNECT_TIMEOUT_SECONDS = 5.0


class DatabaseUnavailable(Exception):
    """The database can't be reached or used; the message says what is wrong and what to do."""


async def prepare_database(
    database_url: str, *, create: bool = False, seconds: float = CONNECT_TIMEOUT_SECONDS
) -> str | None:
    """Check that the database answers, within `seconds`, before Tortoise connects.

    Tortoise 1.1.9 waits forever after a failed first connection: its connection wrapper
    takes a lock, fails to connect and never releases it, and the migration recorder
    reads the failure as "nothing applied yet" and asks again (so `migrate` on an SQLite
    path whose folder is missing hung). Its PostgreSQL pool also waits asyncpg's
    default minute for a server that does not answer. So the first connection is made
    here, and every way it fails becomes one `DatabaseUnavailable` line.

    With `create` (for `storefront migrate`) a missing SQLite folder, or a missing
    PostgreSQL database when the user may create one, is made; the note says which.
    """
    connection = expand_db_url(database_url)
    credentials = connection["credentials"]
    if connection["engine"] == "tortoise.backends.sqlite":
        return _prepare_sqlite(str(credentials["file_path"]), create=create)
    return await _prepare_postgres(credentials, create=create, seconds=seconds)


def _prepare_sqlite(file_path: str, *, create: bool) -> str | None:
    if file_path == ":memory:":
        return None
    path = Path(file_path)
    note = None
    if not path.exists():
        if not create:
            raise DatabaseUnavailable(
                f"the SQLite database {path} does not exist; run `storefront migrate` to create it"
            )
        if not path.parent.is_dir():
            try:
                path.parent.mkdir(parents=True)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"cannot create the folder {path.parent} for the SQLite database: "
                    f"{error.strerror or error}"
                ) from None
            note = f"created the folder {path.parent} for the SQLite database"
    try:
        with closing(sqlite3.connect(path, timeout=1)) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as error:
        raise DatabaseUnavailable(
            f"cannot open the SQLite database {path}: {error}; check the path in DATABASE_URL "
            "and the folder's permissions"
        ) from None
    return note


async def _prepare_postgres(
    credentials: dict[str, Any], *, create: bool, seconds: float
) -> str | None:
    import asyncpg

    database = str(credentials.get("database") or credentials.get("user") or "")
    where = f"{credentials.get('host')}:{credentials.get('port')}"
    try:
        connection = await _postgres_connect(credentials, database, seconds)
    except asyncpg.InvalidCatalogNameError:
        if not create:
            raise DatabaseUnavailable(
                f"the PostgreSQL database {database!r} does not exist on {where}; "
                "run `storefront migrate` to create it"
            ) from None
        await _create_postgres_database(credentials, database, seconds)
        return f"created the PostgreSQL database {database!r} on {where}"
    await connection.close(timeout=seconds)
    return None


async def _postgres_connect(credentials: dict[str, Any], database: str, seconds: float) -> Any:
    """A connection to `database`; `DatabaseUnavailable` for every failure but asyncpg's
    InvalidCatalogNameError (the database does not exist), which the caller decides on."""
    import asyncpg

    where = f"{credentials.get('host')}:{credentials.get('port')}"
    user = credentials.get("user")
    try:
        # asyncpg's own `timeout` covers connecting and the start-up exchange; the outer
        # deadline also covers a name lookup that hangs.
        return await asyncio.wait_for(
            asyncpg.connect(
                host=credentials.get("host"),
                port=credentials.get("port"),
                user=user,
                password=credentials.get("password"),
                database=database,
                ssl=credentials.get("ssl"),
                timeout=seconds,
            ),
            seconds + 1,
        )
    except asyncpg.InvalidCatalogNameError:
        raise
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as error:
        raise DatabaseUnavailable(
            f"PostgreSQL at {where} refused user {user!r}: {error}; check the user and "
            "password in DATABASE_URL"
        ) from None
    except TimeoutError:
        raise DatabaseUnavailable(
            f"PostgreSQL at {where} did not answer within {seconds:g} s; check the host and "
            "port in DATABASE_URL and that the server is up"
        ) from None
    except OSError as error:
        # asyncio's "Connect call failed (...)" hides the reason its errno gives.
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {where}: {reason or error}; is it "
            "running, and are the host and port in DATABASE_URL right?"
        ) from None
    except asyncpg.PostgresError as error:
        raise DatabaseUnavailable(
            f"PostgreSQL at {where} refused the connection: {error}"
        ) from None


async def _create_postgres_database(
    credentials: dict[str, Any], database: str, seconds: float
) -> None:
    """CREATE DATABASE through the `postgres` maintenance database, as the same user."""
    import asyncpg

    user = credentials.get("user")
    refused = DatabaseUnavailable(
        f"the PostgreSQL database {database!r} does not exist and user {user!r} may not "
        f'create it; ask an administrator for CREATE DATABASE "{database}" OWNER "{user}"'
    )
    try:
        admin = await _postgres_connect(credentials, "postgres", seconds)
    except asyncpg.InvalidCatalogNameError:
        raise refused from None
    try:
        quoted = database.replace('"', '""')
        await admin.execute(f'CREATE DATABASE "{quoted}"', timeout=seconds)
    except asyncpg.DuplicateDatabaseError:
        pass  # made meanwhile by someone else: what we wanted
    except asyncpg.InsufficientPrivilegeError:
        raise refused from None
    finally:
        await admin.close(timeout=seconds)

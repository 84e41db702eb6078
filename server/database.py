"""Tortoise configuration, migrations and the readiness check."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate
from tortoise.migrations.executor import MigrationExecutor

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
    """Bring the database's schema up to the latest migration."""
    try:
        await migrate(config=tortoise_config(database_url))
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

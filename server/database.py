"""Tortoise configuration, migrations and the readiness check."""

from __future__ import annotations

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


def _connection(database_url: str) -> dict[str, Any]:
    connection: dict[str, Any] = expand_db_url(database_url)
    if connection["engine"] == "tortoise.backends.asyncpg":
        credentials = connection["credentials"]
        credentials["reset"] = _keep_session
        # asyncpg prepares every statement; after five runs PostgreSQL may switch one to
        # a generic plan that ignores the values, and with them the index a search or a
        # keyset condition needs. Plan each execution for its values.
        settings = credentials.setdefault("server_settings", {})
        settings.setdefault("plan_cache_mode", "force_custom_plan")
    return connection


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database; migrations live in the `migrations` package."""
    return {
        "connections": {"default": _connection(database_url)},
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

"""Settings: the one place that reads the environment (and `.env`, when present).

Every other layer is handed a `Settings` value. A bad value stops start-up with one
line that names the variable (`ConfigError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import os

from starlette.config import Config

T = TypeVar("T")

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DATABASE_SCHEMES = ("sqlite://", "postgres://", "postgresql://", "asyncpg://")


class ConfigError(Exception):
    """A configuration variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite://storefront.sqlite3"
    redis_url: str | None = None
    graphiql: bool = True
    currency: str = "USD"
    max_page_size: int = 100
    default_page_size: int = 20
    max_query_depth: int = 12
    max_query_cost: int = 5000
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    debug: bool = False


def _parse(config: Config, name: str, cast: Callable[[str], T], default: T) -> T:
    raw = config.get(name, default=None)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name}: {error}") from None


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return number


def _database_url(value: str) -> str:
    if not value.startswith(_DATABASE_SCHEMES):
        raise ValueError(f"must start with one of {', '.join(_DATABASE_SCHEMES)}, got {value!r}")
    return value


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"must be a redis:// or rediss:// URL, got {value!r}")
    return value


def _currency(value: str) -> str:
    if not _CURRENCY.match(value):
        raise ValueError(f"must be a three-letter ISO 4217 code such as USD, got {value!r}")
    return value


def _origins(value: str) -> tuple[str, ...]:
    return tuple(origin.strip() for origin in value.split(",") if origin.strip())


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
    return level


def load_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read settings from `env` (default: the process environment) and `env_file`."""
    environment = dict(env) if env is not None else os.environ
    file = env_file if env_file is not None and Path(env_file).is_file() else None
    config = Config(env_file=file, environ=environment)
    base = Settings()
    page_size = _parse(config, "MAX_PAGE_SIZE", _positive_int, base.max_page_size)
    return Settings(
        database_url=_parse(config, "DATABASE_URL", _database_url, base.database_url),
        redis_url=_parse(config, "REDIS_URL", _redis_url, base.redis_url),
        graphiql=_parse(config, "GRAPHIQL", _boolean, base.graphiql),
        currency=_parse(config, "STORE_CURRENCY", _currency, base.currency),
        max_page_size=page_size,
        default_page_size=min(
            _parse(config, "DEFAULT_PAGE_SIZE", _positive_int, base.default_page_size), page_size
        ),
        max_query_depth=_parse(config, "MAX_QUERY_DEPTH", _positive_int, base.max_query_depth),
        max_query_cost=_parse(config, "MAX_QUERY_COST", _positive_int, base.max_query_cost),
        max_body_bytes=_parse(config, "MAX_BODY_BYTES", _positive_int, base.max_body_bytes),
        cors_origins=_parse(config, "CORS_ORIGINS", _origins, base.cors_origins),
        log_level=_parse(config, "LOG_LEVEL", _log_level, base.log_level),
        debug=_parse(config, "DEBUG", _boolean, base.debug),
    )

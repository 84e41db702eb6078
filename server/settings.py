"""Settings: the one place that reads the environment (and `.env`, when present).

Every other layer is handed a `Settings` value. A bad value stops start-up with one
line that names the variable (`ConfigError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from starlette.config import Config

from auth.config import is_loopback_url

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
    # The built-in OAuth2 authorization server (`/oauth/*`): on, and the issuer identifier
    # (its public base URL) its tokens carry.
    oauth_server: bool = True
    oauth_server_issuer: str = "http://127.0.0.1:8000"
    # The audience every access token must name: ours carry it, an external one must.
    oauth_audience: str = "storefront"
    # An external identity provider whose tokens are accepted beside (or, with
    # OAUTH_SERVER=false, instead of) ours. Both set, or neither.
    oauth_issuer: str | None = None
    oauth_jwks_url: str | None = None
    # `claim:value`: tokens whose claim (a dotted path) equals or contains the value are
    # staff. Used for external tokens; our own tokens carry `roles: ["staff"]`.
    oauth_staff_claim: str = "roles:staff"
    oauth_jwks_cache_seconds: int = 3600
    oauth_jwks_refetch_seconds: int = 60
    access_token_seconds: int = 900
    refresh_token_seconds: int = 30 * 24 * 3600
    # Deadlines (seconds): connecting to the database and each statement; a client's
    # request line and headers; its body.
    database_timeout: float = 5.0
    http_header_timeout: float = 10.0
    http_body_timeout: float = 30.0

    @property
    def oauth_allow_http(self) -> bool:
        """Plain http for the OAuth endpoints: only for a loopback issuer or with DEBUG."""
        return self.debug or is_loopback_url(self.oauth_server_issuer)


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


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number < 86_400:
        raise ValueError(f"must be a number of seconds above 0 and below 86400, got {value!r}")
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


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must not have a query or fragment, got {value!r}")
    return value.strip().rstrip("/")


def _staff_claim(value: str) -> str:
    claim, separator, expected = value.strip().partition(":")
    if not separator or not claim or not expected:
        raise ValueError(f"must look like claim:value (e.g. roles:staff), got {value!r}")
    return value.strip()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _oauth_issuers(
    config: Config, base: Settings, debug: bool
) -> tuple[bool, str, str | None, str | None]:
    """OAUTH_SERVER, OAUTH_SERVER_ISSUER, OAUTH_ISSUER, OAUTH_JWKS_URL, checked together."""
    server_issuer = _parse(config, "OAUTH_SERVER_ISSUER", _http_url, base.oauth_server_issuer)
    if server_issuer.startswith("http://") and not (debug or is_loopback_url(server_issuer)):
        raise ConfigError(
            "OAUTH_SERVER_ISSUER: must be https:// unless it is a loopback address "
            f"or DEBUG=true, got {server_issuer!r}"
        )
    issuer = _parse(config, "OAUTH_ISSUER", _not_blank, base.oauth_issuer)
    jwks_url = _parse(config, "OAUTH_JWKS_URL", _http_url, base.oauth_jwks_url)
    if issuer and not jwks_url:
        raise ConfigError("OAUTH_JWKS_URL: must be set when OAUTH_ISSUER is set")
    if jwks_url and not issuer:
        raise ConfigError("OAUTH_ISSUER: must be set when OAUTH_JWKS_URL is set")
    oauth_server = _parse(config, "OAUTH_SERVER", _boolean, base.oauth_server)
    if not oauth_server and not issuer:
        raise ConfigError("OAUTH_SERVER: may be false only when OAUTH_ISSUER is set")
    return oauth_server, server_issuer, issuer, jwks_url


def load_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read settings from `env` (default: the process environment) and `env_file`."""
    environment = dict(env) if env is not None else os.environ
    file = env_file if env_file is not None and Path(env_file).is_file() else None
    config = Config(env_file=file, environ=environment)
    base = Settings()
    debug = _parse(config, "DEBUG", _boolean, base.debug)
    oauth_server, server_issuer, issuer, jwks_url = _oauth_issuers(config, base, debug)
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
        debug=debug,
        oauth_audience=_parse(config, "OAUTH_AUDIENCE", _not_blank, base.oauth_audience),
        oauth_staff_claim=_parse(config, "OAUTH_STAFF_CLAIM", _staff_claim, base.oauth_staff_claim),
        oauth_jwks_cache_seconds=_parse(
            config, "OAUTH_JWKS_CACHE_SECONDS", _positive_int, base.oauth_jwks_cache_seconds
        ),
        oauth_jwks_refetch_seconds=_parse(
            config, "OAUTH_JWKS_REFETCH_SECONDS", _positive_int, base.oauth_jwks_refetch_seconds
        ),
        access_token_seconds=_parse(
            config, "OAUTH_ACCESS_TOKEN_SECONDS", _positive_int, base.access_token_seconds
        ),
        refresh_token_seconds=_parse(
            config, "OAUTH_REFRESH_TOKEN_SECONDS", _positive_int, base.refresh_token_seconds
        ),
        database_timeout=_parse(
            config, "DATABASE_TIMEOUT", _positive_seconds, base.database_timeout
        ),
        http_header_timeout=_parse(
            config, "HTTP_HEADER_TIMEOUT", _positive_seconds, base.http_header_timeout
        ),
        http_body_timeout=_parse(
            config, "HTTP_BODY_TIMEOUT", _positive_seconds, base.http_body_timeout
        ),
        oauth_server=oauth_server,
        oauth_server_issuer=server_issuer,
        oauth_issuer=issuer,
        oauth_jwks_url=jwks_url,
    )

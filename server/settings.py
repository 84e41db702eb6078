"""Settings: the one place that reads the environment (and `.env`, when present).

Every other layer is handed a `Settings` value. A bad value stops start-up with one
line that names the variable (`ConfigError`).
"""

from __future__ import annotations

import ipaddress
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
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
_OFF = {"off", "none", "0"}


# Set by `storefront serve` for its workers: the URL it serves at, the built-in
# authorization server's issuer unless OAUTH_SERVER_ISSUER says otherwise.
SERVED_URL_VARIABLE = "STOREFRONT_SERVED_URL"


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
    total_count_limit: int = 1_000
    max_query_depth: int = 12
    max_query_cost: int = 5000
    max_body_bytes: int = 1_000_000
    max_mutations_per_request: int = 5
    # Unpaid orders: how long one holds its stock, how many units one customer may hold
    # in them together, and how often each instance cancels those whose hold is over.
    order_hold_seconds: int = 1800
    max_units_held_per_customer: int = 100
    order_sweep_seconds: float = 60.0
    cors_origins: tuple[str, ...] = ()
    # Browser apps on this machine (http://localhost:*, 127.0.0.1, [::1]) may call the API:
    # for local development (`./scripts/run` turns it on), never in production.
    cors_allow_loopback: bool = False
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
    # Rate limits, `N/second|minute|hour` (see server.ratelimit); None is off.
    login_rate_limit: str = "10/minute"
    rate_limit: str | None = None
    rate_limit_cost: str | None = None
    # Peers whose X-Forwarded-For (and -Proto) are believed: IPs, CIDRs, or "*".
    forwarded_allow_ips: tuple[str, ...] = ()
    # `auto` (automatic persisted queries), `only` (the registered allow-list) or `off`.
    persisted_queries: str = "auto"
    # How long Redis keeps an automatically persisted query after its last registration.
    persisted_query_ttl: int = 24 * 3600
    # Cache-Control of a successful GET /graphql without a bearer token (what a CDN keeps).
    get_cache_control: str = "public, max-age=60"
    # Subscriptions (WebSocket, graphql-transport-ws) and the event broker.
    max_subscriptions_per_connection: int = 20
    max_connections_per_caller: int = 20
    subscription_queue_size: int = 100
    subscription_auth_seconds: int = 5
    redis_timeout: float = 2.0
    # Operations: the bearer token /metrics requires, the log format (text or json) and
    # the OpenTelemetry collector spans go to (tracing is off without one).
    metrics_token: str | None = None
    log_format: str = "text"
    otel_exporter_otlp_endpoint: str | None = None
    # Encrypts private signing keys at rest; required unless the issuer is a loopback URL.
    oauth_key_secret: str | None = None
    # How long an instance trusts a user's account state (deactivated, sessions ended,
    # staff rights); 0 reads it on every request.
    account_status_seconds: float = 5.0
    # Schema introspection and "did you mean" suggestions in error messages.
    introspection: bool = True
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


def _non_negative_seconds(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 3600:
        raise ValueError(f"must be a number of seconds from 0 to 3600, got {value!r}")
    return number


def _key_secret(value: str) -> str:
    if len(value) < 32:
        raise ValueError(
            "must be at least 32 characters (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return value


def _oauth_key_secret(config: Config, oauth_server: bool, server_issuer: str) -> str | None:
    """OAUTH_KEY_SECRET: required when the built-in server signs tokens for a real
    deployment (an issuer that is not a loopback URL)."""
    secret = _parse(config, "OAUTH_KEY_SECRET", _key_secret, None)
    if secret is None and oauth_server and not is_loopback_url(server_issuer):
        raise ConfigError(
            "OAUTH_KEY_SECRET: must be set (it encrypts the private signing keys) when "
            f"OAUTH_SERVER_ISSUER is not a loopback URL, got {server_issuer!r}"
        )
    return secret


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


def _log_format(value: str) -> str:
    log_format = value.strip().lower()
    if log_format not in {"text", "json"}:
        raise ValueError(f"must be text or json, got {value!r}")
    return log_format


def _staff_claim(value: str) -> str:
    claim, separator, expected = value.strip().partition(":")
    if not separator or not claim or not expected:
        raise ValueError(f"must look like claim:value (e.g. roles:staff), got {value!r}")
    return value.strip()


def _rate(value: str) -> str:
    match = _RATE.match(value)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"must look like N/second, N/minute or N/hour (N >= 1), got {value!r}")
    return f"{int(match.group(1))}/{match.group(2)}"


def _rate_or_off(value: str) -> str | None:
    return None if value.strip().lower() in _OFF else _rate(value)


def _cost_rate_or_off(value: str) -> str | None:
    """Like `_rate_or_off`; a bare number is points per minute."""
    return _rate_or_off(f"{value.strip()}/minute" if value.strip().isdigit() else value)


def _networks(value: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    for item in items:
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"must be IPs or CIDR networks (or *), got {item!r}") from None
    return items


def _persisted_queries(value: str) -> str:
    mode = value.strip().lower()
    if mode not in {"auto", "only", "off"}:
        raise ValueError(f"must be auto, only or off, got {value!r}")
    return mode


def _header_value(value: str) -> str:
    if not value.strip() or any(ord(character) < 32 for character in value):
        raise ValueError(f"must be a header value on one line, got {value!r}")
    return value.strip()


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _oauth_issuers(
    config: Config, base: Settings, debug: bool
) -> tuple[bool, str, str | None, str | None]:
    """OAUTH_SERVER, OAUTH_SERVER_ISSUER, OAUTH_ISSUER, OAUTH_JWKS_URL, checked together."""
    served = _parse(config, SERVED_URL_VARIABLE, _http_url, base.oauth_server_issuer)
    server_issuer = _parse(config, "OAUTH_SERVER_ISSUER", _http_url, served)
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
    max_query_cost = _parse(config, "MAX_QUERY_COST", _positive_int, base.max_query_cost)
    rate_limit_cost = _parse(config, "RATE_LIMIT_COST", _cost_rate_or_off, base.rate_limit_cost)
    if rate_limit_cost and int(rate_limit_cost.split("/")[0]) < max_query_cost:
        raise ConfigError(
            f"RATE_LIMIT_COST: must allow at least MAX_QUERY_COST ({max_query_cost}) points, "
            f"or the costliest accepted query could never run; got {rate_limit_cost!r}"
        )
    return Settings(
        database_url=_parse(config, "DATABASE_URL", _database_url, base.database_url),
        redis_url=_parse(config, "REDIS_URL", _redis_url, base.redis_url),
        graphiql=_parse(config, "GRAPHIQL", _boolean, base.graphiql),
        currency=_parse(config, "STORE_CURRENCY", _currency, base.currency),
        max_page_size=page_size,
        default_page_size=min(
            _parse(config, "DEFAULT_PAGE_SIZE", _positive_int, base.default_page_size), page_size
        ),
        total_count_limit=_parse(
            config, "TOTAL_COUNT_LIMIT", _positive_int, base.total_count_limit
        ),
        max_query_depth=_parse(config, "MAX_QUERY_DEPTH", _positive_int, base.max_query_depth),
        max_query_cost=max_query_cost,
        max_body_bytes=_parse(config, "MAX_BODY_BYTES", _positive_int, base.max_body_bytes),
        max_mutations_per_request=_parse(
            config, "MAX_MUTATIONS_PER_REQUEST", _positive_int, base.max_mutations_per_request
        ),
        order_hold_seconds=_parse(
            config, "ORDER_HOLD_SECONDS", _positive_int, base.order_hold_seconds
        ),
        max_units_held_per_customer=_parse(
            config, "MAX_UNITS_HELD_PER_CUSTOMER", _positive_int, base.max_units_held_per_customer
        ),
        order_sweep_seconds=_parse(
            config, "ORDER_SWEEP_SECONDS", _positive_seconds, base.order_sweep_seconds
        ),
        cors_origins=_parse(config, "CORS_ORIGINS", _origins, base.cors_origins),
        cors_allow_loopback=_parse(
            config, "CORS_ALLOW_LOOPBACK", _boolean, base.cors_allow_loopback
        ),
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
        login_rate_limit=_parse(config, "LOGIN_RATE_LIMIT", _rate, base.login_rate_limit),
        rate_limit=_parse(config, "RATE_LIMIT", _rate_or_off, base.rate_limit),
        rate_limit_cost=rate_limit_cost,
        forwarded_allow_ips=_parse(
            config, "FORWARDED_ALLOW_IPS", _networks, base.forwarded_allow_ips
        ),
        persisted_queries=_parse(
            config, "PERSISTED_QUERIES", _persisted_queries, base.persisted_queries
        ),
        persisted_query_ttl=_parse(
            config, "PERSISTED_QUERY_TTL", _positive_int, base.persisted_query_ttl
        ),
        get_cache_control=_parse(
            config, "GET_CACHE_CONTROL", _header_value, base.get_cache_control
        ),
        max_subscriptions_per_connection=_parse(
            config,
            "MAX_SUBSCRIPTIONS_PER_CONNECTION",
            _positive_int,
            base.max_subscriptions_per_connection,
        ),
        max_connections_per_caller=_parse(
            config, "MAX_CONNECTIONS_PER_CALLER", _positive_int, base.max_connections_per_caller
        ),
        subscription_queue_size=_parse(
            config, "SUBSCRIPTION_QUEUE_SIZE", _positive_int, base.subscription_queue_size
        ),
        subscription_auth_seconds=_parse(
            config, "SUBSCRIPTION_AUTH_SECONDS", _positive_int, base.subscription_auth_seconds
        ),
        redis_timeout=_parse(config, "REDIS_TIMEOUT", _positive_seconds, base.redis_timeout),
        oauth_key_secret=_oauth_key_secret(config, oauth_server, server_issuer),
        account_status_seconds=_parse(
            config, "ACCOUNT_STATUS_SECONDS", _non_negative_seconds, base.account_status_seconds
        ),
        introspection=_parse(config, "INTROSPECTION", _boolean, base.introspection),
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
        metrics_token=_parse(config, "METRICS_TOKEN", _not_blank, base.metrics_token),
        log_format=_parse(config, "LOG_FORMAT", _log_format, base.log_format),
        otel_exporter_otlp_endpoint=_parse(
            config, "OTEL_EXPORTER_OTLP_ENDPOINT", _http_url, base.otel_exporter_otlp_endpoint
        ),
    )

"""`/metrics` in Prometheus text format, and the metrics observed in `server`.

One process: the default registry. Several workers (`storefront serve --workers N`):
prometheus-client's multiprocess mode. `storefront serve` points PROMETHEUS_MULTIPROC_DIR
at an empty folder before the workers start (so values from an earlier run are gone);
each worker writes its values to files there, a scrape sums them with a
`MultiProcessCollector` on a fresh registry, and a worker that stops marks its gauges dead.

Operation names become label values only for documents that validated, and only the first
`MAX_OPERATION_NAMES` distinct names a process sees: clients cannot grow the label set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import tempfile
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.requests import Request
from starlette.responses import Response
from tortoise.connection import get_connection

from telemetry.request import RequestRecord

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
MAX_OPERATION_NAMES = 100
POOL_REFRESH_SECONDS = 5.0
DATABASE_CHECK_SECONDS = 2.0

GRAPHQL_REQUESTS = Counter(
    "storefront_graphql_requests_total",
    "GraphQL requests over HTTP, by operation name, operation type and outcome "
    "(success, error, rejected)",
    ["operation", "type", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "storefront_graphql_request_duration_seconds",
    "Time to answer a GraphQL request over HTTP, by operation name",
    ["operation"],
)
SQL_STATEMENTS = Histogram(
    "storefront_sql_statements_per_request",
    "SQL statements sent for one GraphQL request over HTTP",
    buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128),
)
TOKEN_VALIDATIONS = Counter(
    "storefront_token_validations_total",
    "Bearer tokens checked, by outcome (valid, invalid, unavailable)",
    ["outcome"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "storefront_websocket_connections",
    "Open WebSocket connections",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "storefront_db_pool_size",
    "Open connections in the database pool (PostgreSQL)",
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "storefront_db_pool_in_use",
    "Database pool connections lent out (PostgreSQL)",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "storefront_db_pool_max_size",
    "Most connections the database pool may open (PostgreSQL)",
    multiprocess_mode="livesum",
)

DATABASE_UP = Gauge(
    "storefront_database_up",
    "1 when the database answered `SELECT 1` at the last scrape, else 0",
    multiprocess_mode="livemostrecent",
)

_operation_names: set[str] = set()


def operation_label(record: RequestRecord) -> str:
    """The `operation` label of a request: its name, within the cap."""
    if record.outcome is None or record.outcome == "rejected":
        return "invalid"
    name = record.operation_name
    if not name:
        return "anonymous"
    if name in _operation_names:
        return name
    if len(_operation_names) < MAX_OPERATION_NAMES:
        _operation_names.add(name)
        return name
    return "other"


def observe_graphql_request(record: RequestRecord, seconds: float) -> None:
    operation = operation_label(record)
    GRAPHQL_REQUESTS.labels(
        operation, record.operation_type or "none", record.outcome or "rejected"
    ).inc()
    GRAPHQL_DURATION.labels(operation).observe(seconds)
    SQL_STATEMENTS.observe(record.statements)


def refresh_pool_gauges() -> None:
    """Read the database pool's size and use (asyncpg; SQLite has no pool)."""
    try:
        pool = getattr(get_connection("default"), "_pool", None)
    except Exception:  # no database set up in this process (yet)
        return
    if pool is None or not hasattr(pool, "get_idle_size"):
        return
    size = pool.get_size()
    DB_POOL_SIZE.set(size)
    DB_POOL_IN_USE.set(size - pool.get_idle_size())
    DB_POOL_MAX.set(pool.get_max_size())


async def check_database() -> None:
    """Ask the database for `SELECT 1` (with a deadline) and set `storefront_database_up`."""
    try:
        await asyncio.wait_for(
            get_connection("default").execute_query("SELECT 1"), DATABASE_CHECK_SECONDS
        )
    except Exception:
        DATABASE_UP.set(0)
    else:
        DATABASE_UP.set(1)


async def refresh_pool_gauges_forever() -> None:
    """Keep this worker's pool gauges current (a scrape reaches only one worker)."""
    while True:
        refresh_pool_gauges()
        await asyncio.sleep(POOL_REFRESH_SECONDS)


def multiprocess_directory() -> str | None:
    """The folder of per-worker metric files, when several workers share the metrics.

    prometheus-client reads the variable from the process environment itself, so this
    does too (a `.env` file would not reach it).
    """
    return os.environ.get(MULTIPROC_VARIABLE) or None


def prepare_multiprocess() -> str:
    """Point the workers about to start at an empty metrics folder (call before forking).

    In an existing PROMETHEUS_MULTIPROC_DIR the metric files (`*.db`) of an earlier run are
    deleted (they would be summed with the new ones); nothing else there is touched.
    Otherwise a fresh folder is made.
    """
    existing = multiprocess_directory()
    if existing:
        folder = Path(existing)
        folder.mkdir(parents=True, exist_ok=True)
        for entry in folder.glob("*.db"):
            entry.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="storefront-metrics-"))
    os.environ[MULTIPROC_VARIABLE] = str(folder)
    return str(folder)


def worker_stopped() -> None:
    """Drop this worker's live gauges from the sums (the lifespan's end)."""
    directory = multiprocess_directory()
    if directory:
        with contextlib.suppress(OSError):
            mark_process_dead(os.getpid(), directory)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, provided = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        provided.strip().encode(), token.encode()
    )


async def metrics(request: Request) -> Response:
    """The Prometheus exposition of every metric (of every worker)."""
    token = request.app.state.settings.metrics_token
    if token and not _authorized(request, token):
        return Response(
            "/metrics needs the bearer token set in METRICS_TOKEN\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            media_type="text/plain",
        )
    await check_database()
    refresh_pool_gauges()
    directory = multiprocess_directory()
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)

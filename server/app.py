"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from tortoise.contrib.starlette import RegisterTortoise

from events import make_broker
from resolvers.orders import expire_orders
from schema import schema
from server import graphiql
from server.database import tortoise_config
from server.graphql_app import GraphQLApp
from server.health import healthz, readyz
from server.home import home
from server.metrics import metrics, refresh_pool_gauges_forever, worker_stopped
from server.middleware import middleware
from server.oauth import build_auth, oauth_routes
from server.ratelimit import RateLimits
from server.settings import Settings, load_settings
from server.sweeper import order_sweeper
from server.tracing import start_tracing, stop_tracing
from server.websocket import GOING_AWAY
from telemetry import statements


def create_app(
    settings: Settings | None = None,
    *,
    manage_database: bool = True,
    load_keys: bool | None = None,
    tune_gc: bool | None = None,
    sweep_orders: bool = True,
) -> Starlette:
    """Build the app. Each start-up job has its own switch:

    - `manage_database=False` leaves Tortoise (and its pool gauges) to the caller.
    - `load_keys` loads the signing keys at start-up (creating the first, encrypting plain
      ones), so that a wrong OAUTH_KEY_SECRET stops the server before it answers; without
      it they load on first use.
    - `tune_gc` freezes what start-up leaves alive and raises the collector's threshold: a
      change to the whole process, for a process that serves this app alone.
    - `sweep_orders=False` leaves expired orders to someone else (`storefront expire-orders`).

    `load_keys` and `tune_gc` default to `manage_database`: an app that does not own its
    database runs inside someone else's process (a test, a benchmark), whose database may
    not be ready at start-up and whose collector is not ours to tune."""
    settings = settings or load_settings()
    load_keys = manage_database if load_keys is None else load_keys
    tune_gc = manage_database if tune_gc is None else tune_gc
    statements.install()
    tracer_provider = start_tracing(settings)
    rate_limits = RateLimits(settings)
    broker = make_broker(
        settings.redis_url,
        queue_size=settings.subscription_queue_size,
        timeout=settings.redis_timeout,
    )
    graphql = GraphQLApp(schema, settings, rate_limits, broker)
    auth = build_auth(settings)

    def sweeping() -> AbstractAsyncContextManager[None]:
        if not sweep_orders:
            return nullcontext()
        return order_sweeper(settings.order_sweep_seconds, lambda: expire_orders(broker))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.start()
        try:
            async with _database(app):
                if load_keys:
                    await auth.keys.ensure()
                if tune_gc:
                    _tune_gc()
                async with sweeping():
                    yield
        finally:
            await graphql.connections.close_all(GOING_AWAY, "The server is shutting down")
            await broker.close()
            await graphql.persisted.close()
            await stop_tracing(tracer_provider)
            worker_stopped()

    @asynccontextmanager
    async def _database(app: Starlette) -> AsyncIterator[None]:
        if not manage_database:
            yield
            return
        async with RegisterTortoise(
            app, config=tortoise_config(settings.database_url, settings.database_timeout)
        ):
            pool_gauges = asyncio.create_task(refresh_pool_gauges_forever())
            try:
                yield
            finally:
                pool_gauges.cancel()

    app = Starlette(
        debug=False,
        routes=[
            # The view answers other methods itself: 405 as JSON, with Allow.
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/", home, methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *(graphiql.static_routes() if settings.graphiql else []),
            *oauth_routes(auth, rate_limits),
        ],
        middleware=middleware(settings),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.rate_limits = rate_limits
    app.state.broker = broker
    return app


def _tune_gc() -> None:
    # Objects alive after start-up (modules, schema, pools) never become garbage:
    # keep the cyclic collector from walking them on every collection.
    gc.collect()
    gc.freeze()
    # The objects of requests in flight, not garbage, are what fill the first
    # generation: at the default threshold (700) the collector runs several times per
    # listing request, at 50,000 almost never, with the same peak memory (profile it as
    # benchmarks/README.md's "Profiling" says).
    gc.set_threshold(50_000, 50, 1_000)

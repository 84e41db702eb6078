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
    settings: Settings | None = None, *, manage_database: bool = True, sweep_orders: bool = True
) -> Starlette:
    """Build the app. `manage_database=False` leaves Tortoise to the caller (tests);
    `sweep_orders=False` leaves expired orders to someone else (`storefront expire-orders`)."""
    settings = settings or load_settings()
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
            async with _database(app, settings, manage_database):
                yield
        finally:
            await graphql.connections.close_all(GOING_AWAY, "The server is shutting down")
            await broker.close()
            await graphql.persisted.close()

    @asynccontextmanager
    async def _database(
        app: Starlette, settings: Settings, manage_database: bool
    ) -> AsyncIterator[None]:
        if not manage_database:
            async with sweeping():
                yield
            return
        async with RegisterTortoise(
            app, config=tortoise_config(settings.database_url, settings.database_timeout)
        ):
            await auth.keys.ensure()
            # Objects alive after start-up (modules, schema, pools) never become garbage:
            # keep the cyclic collector from walking them on every collection.
            gc.collect()
            gc.freeze()
            # The objects of requests in flight, not garbage, are what fill the first
            # generation: at the default threshold (700) the collector ran 2 to 11 times
            # per listing request and took 9-12% of its CPU, at 50,000 almost never
            # (benchmarks/, issue 2), with the same peak memory.
            gc.set_threshold(50_000, 50, 1_000)
            pool_gauges = asyncio.create_task(refresh_pool_gauges_forever())
            try:
                async with sweeping():
                    yield
            finally:
                pool_gauges.cancel()
                await stop_tracing(tracer_provider)
                worker_stopped()

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

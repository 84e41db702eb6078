"""The ASGI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from tortoise.contrib.starlette import RegisterTortoise

from schema import schema
from server import graphiql
from server.database import tortoise_config
from server.graphql_app import GraphQLApp
from server.health import healthz, readyz
from server.middleware import middleware
from server.oauth import build_auth, oauth_routes
from server.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """Build the app. `manage_database=False` leaves Tortoise to the caller (tests)."""
    settings = settings or load_settings()
    graphql = GraphQLApp(schema, settings)
    auth = build_auth(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not manage_database:
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
            yield

    app = Starlette(
        debug=False,
        routes=[
            # The view answers other methods itself: 405 as JSON, with Allow.
            Route("/graphql", graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *(graphiql.static_routes() if settings.graphiql else []),
            *oauth_routes(auth),
        ],
        middleware=middleware(settings),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.auth = auth
    return app

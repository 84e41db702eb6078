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
from server.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> Starlette:
    """Build the app. `manage_database=False` leaves Tortoise to the caller (tests)."""
    settings = settings or load_settings()
    graphql = GraphQLApp(schema, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not manage_database:
            yield
            return
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            # Objects alive after start-up (modules, schema, pools) never become garbage:
            # keep the cyclic collector from walking them on every collection.
            gc.collect()
            gc.freeze()
            yield

    app = Starlette(
        debug=False,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *(graphiql.static_routes() if settings.graphiql else []),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app

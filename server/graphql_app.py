"""`/graphql` over HTTP and WebSocket: Strawberry's ASGI view with our context."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from loaders import Loaders
from server.context import Context
from server.graphiql import graphiql_response
from server.settings import Settings


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            request_id=request.scope.get("state", {}).get("request_id", "-"),
            loaders=Loaders(),
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response(request)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

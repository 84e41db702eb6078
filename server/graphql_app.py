"""`/graphql` over HTTP and WebSocket: Strawberry's ASGI view with our context.

Over HTTP the view speaks the GraphQL-over-HTTP spec itself (`server.graphql_http`):
Strawberry's own handling answers some malformed requests with plain text or a 500.
WebSocket connections are Strawberry's.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from loaders import Loaders
from schema.limits import parse_document
from server.context import Context
from server.graphiql import graphiql_response
from server.graphql_http import (
    GRAPHQL_RESPONSE_JSON,
    GraphQLParams,
    RequestError,
    content_type,
    error_response,
    negotiate,
    params_from_body,
    params_from_query_string,
)
from server.metrics import WEBSOCKET_CONNECTIONS
from server.settings import Settings

logger = logging.getLogger(__name__)

_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
# Status of a response without data under application/graphql-response+json, by the
# code of its error: the client's fault unless the server failed.
_SERVER_FAILURES = {"INTERNAL_SERVER_ERROR": 500, "SERVICE_UNAVAILABLE": 503}


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
            authorization=request.headers.get("authorization"),
            resource=request.app.state.auth.resource,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response(request)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            with WEBSOCKET_CONNECTIONS.track_inprogress():
                await super().__call__(scope, receive, send)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.respond(request)
        except ClientDisconnect:
            return  # nobody left to answer
        except Exception:
            logger.exception(
                "request %s: /graphql failed", scope.get("state", {}).get("request_id")
            )
            response = error_response(500, "Internal server error", "INTERNAL_SERVER_ERROR")
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The HTTP response to one GraphQL-over-HTTP request."""
        if request.method not in _OPERATIONS:
            return error_response(
                405,
                f"/graphql answers GET and POST, not {request.method}",
                "BAD_REQUEST",
                headers={"Allow": "GET, POST"},
            )
        if self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request)):
            return await self.render_graphql_ide(request)
        try:
            media_type = negotiate(request.headers.get("accept"))
        except RequestError as error:
            return error.response()
        try:
            params = (
                params_from_query_string(request.query_params)
                if request.method == "GET"
                else params_from_body(request.headers.get("content-type"), await request.body())
            )
            return await self.execute(request, params, media_type)
        except RequestError as error:
            return error.response(media_type)

    async def execute(self, request: Request, params: GraphQLParams, media_type: str) -> Response:
        # The spec wants an error here; Strawberry would run the first operation.
        if params.operation_name is None and _operation_count(params.query) > 1:
            raise _no_operation(None)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        try:
            result = await self.schema.execute(
                params.query,
                variable_values=params.variables,
                context_value=context,
                operation_name=params.operation_name,
                allowed_operation_types=_OPERATIONS[request.method],
                operation_extensions=params.extensions,
            )
        except InvalidOperationTypeError as error:
            raise _not_allowed(error.operation_type, request.method) from None
        except CannotGetOperationTypeError:
            raise _no_operation(params.operation_name) from None
        except MissingQueryError:
            raise RequestError(400, "The request has no `query`") from None
        return self.result_response(result, media_type, sub_response)

    def result_response(
        self, result: ExecutionResult, media_type: str, sub_response: Response
    ) -> Response:
        errors = result.errors or []
        # Errors raised before execution (parse, validation, variables, limits) have no
        # path and leave no data: the response then has no `data` entry at all.
        request_failed = result.data is None and all(error.path is None for error in errors)
        body: dict[str, Any] = {} if request_failed else {"data": result.data}
        if errors:
            body["errors"] = [error.formatted for error in errors]
        if result.extensions:
            body["extensions"] = result.extensions
        status = 200
        if request_failed and media_type == GRAPHQL_RESPONSE_JSON:
            status = max(_failure_status(error) for error in errors) if errors else 400
        response = Response(
            self.encode_json(body), status_code=status, media_type=content_type(media_type)
        )
        # Resolvers may set headers, cookies or a status on the context's response.
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response


def _operation_count(query: str | None) -> int:
    """Operations in the document; 0 when it does not parse (execution reports that)."""
    if not query:
        return 0
    try:
        document = parse_document(query)  # cached: execution parses it from there
    except GraphQLError:
        return 0
    return sum(isinstance(node, OperationDefinitionNode) for node in document.definitions)


def _failure_status(error: GraphQLError) -> int:
    return _SERVER_FAILURES.get((error.extensions or {}).get("code", ""), 400)


def _not_allowed(operation: OperationType, method: str) -> RequestError:
    if operation is OperationType.MUTATION:
        return RequestError(
            405, "Mutations are not allowed over GET: use POST", headers={"Allow": "POST"}
        )
    if operation is OperationType.SUBSCRIPTION:
        return RequestError(
            400, "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql"
        )
    return RequestError(400, f"{operation.value} operations are not allowed over {method}")


def _no_operation(operation_name: str | None) -> RequestError:
    if operation_name:
        return RequestError(400, f"The document has no operation named {operation_name!r}")
    return RequestError(
        400, "The document must hold one operation, or `operationName` must name one of them"
    )

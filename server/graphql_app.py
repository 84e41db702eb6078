"""`/graphql` over HTTP and WebSocket: Strawberry's ASGI view with our context.

Over HTTP the view speaks the GraphQL-over-HTTP spec itself (`server.graphql_http`):
Strawberry's own handling answers some malformed requests with plain text or a 500.
WebSocket connections speak graphql-transport-ws through `server.websocket`.
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
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from events import Broker
from loaders import Loaders
from resolvers.errors import ServiceError
from schema.limits import operation_cost, parse_document
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
from server.persisted import PersistedQueries, Resolution, persisted_queries
from server.ratelimit import Budget, RateLimits, Refusal, caller_key, client_address
from server.settings import Settings
from server.websocket import Connections, TextWebSocketAdapter, TransportWSHandler

logger = logging.getLogger(__name__)

_OPERATIONS = {
    "GET": frozenset({OperationType.QUERY}),
    "POST": frozenset({OperationType.QUERY, OperationType.MUTATION}),
}
_PERSISTED_PARAMETERS = ("extensions", "doc_id", "id")
# Errors that mean the document itself is wrong: such a document is not persisted.
_INVALID_DOCUMENT = frozenset({"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"})
# A GET response a cache may not keep: one with a token, an error or a refusal.
_UNCACHEABLE = "private, no-store"
# Status of a response without data under application/graphql-response+json, by the
# code of its error: the client's fault unless the server failed.
_SERVER_FAILURES = {"INTERNAL_SERVER_ERROR": 500, "SERVICE_UNAVAILABLE": 503}


class GraphQLApp(GraphQL[Context, None]):
    websocket_adapter_class = TextWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(
        self, schema: Schema, settings: Settings, rate_limits: RateLimits, broker: Broker
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Ours counts subscriptions and answers with a code (server.websocket).
            max_subscriptions_per_connection=None,
            # Browser apps that may call the API may subscribe too (the token travels in
            # connection_init, not in a cookie, so no other page can borrow it).
            allowed_origins=settings.cors_origins,
        )
        self.settings = settings
        self.rate_limits = rate_limits
        self.graphql_schema = schema._schema
        self.persisted: PersistedQueries = persisted_queries(settings)
        self.broker = broker
        self.connections = Connections()

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
            broker=self.broker,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response(request)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET naming a persisted query (hash or id, no `query`) is a GraphQL request,
        # whatever its Accept header says.
        named = any(request.query_params.get(name) for name in _PERSISTED_PARAMETERS)
        return not named and super().should_render_graphql_ide(request)

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
            response = await self.execute(request, params, media_type)
        except RequestError as error:
            response = error.response(media_type)
        if request.method == "GET" and "cache-control" not in response.headers:
            response.headers["Cache-Control"] = _UNCACHEABLE
        return response

    async def execute(self, request: Request, params: GraphQLParams, media_type: str) -> Response:
        resolution = await self.persisted.resolve(
            params.query, params.extensions, params.document_id
        )
        # The spec wants an error here; Strawberry would run the first operation.
        if params.operation_name is None and _operation_count(resolution.query) > 1:
            raise _no_operation(None)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        wants_cost = (params.extensions or {}).get("cost") is True
        cost = (
            operation_cost(
                self.graphql_schema,
                resolution.query,
                params.operation_name,
                params.variables,
                self.settings,
            )
            if wants_cost or self.rate_limits.graphql_limited
            else None
        )
        caller = await self._caller(request, context) if self.rate_limits.graphql_limited else ""
        if refusal := await self._over_limit(caller, cost):
            return _rate_limited(refusal, media_type)
        try:
            result = await self.schema.execute(
                resolution.query,
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
        if wants_cost and cost is not None:
            budget = await self.rate_limits.cost_budget(caller) if caller else None
            result.extensions = {**(result.extensions or {}), "cost": self._cost(cost, budget)}
        await self._remember(resolution, result)
        response = self.result_response(result, media_type, sub_response)
        if request.method == "GET" and self._cacheable(request, result, response):
            response.headers["Cache-Control"] = self.settings.get_cache_control
            response.headers.add_vary_header("Accept")
            response.headers.add_vary_header("Authorization")
        return response

    async def _remember(self, resolution: Resolution, result: ExecutionResult) -> None:
        """Persist an automatically persisted document once it proved valid."""
        codes = {(error.extensions or {}).get("code") for error in result.errors or []}
        if resolution.register is not None and not codes & _INVALID_DOCUMENT:
            await self.persisted.remember(resolution)

    @staticmethod
    def _cacheable(request: Request, result: ExecutionResult, response: Response) -> bool:
        """Anonymous and complete: the same answer for anyone who asks within max-age."""
        return (
            "authorization" not in request.headers
            and not result.errors
            and response.status_code == 200
            and "cache-control" not in response.headers
        )

    async def _caller(self, request: Request, context: Context) -> str:
        """Whose budgets the request spends (see `server.ratelimit.caller_key`)."""
        try:
            viewer = await context.viewer()
        except ServiceError:
            viewer = None  # a bad token: execution refuses it; its sender pays as anonymous
        return caller_key(viewer, client_address(request.scope))

    async def _over_limit(self, caller: str, cost: int | None) -> Refusal | None:
        limits = self.rate_limits
        if not limits.graphql_limited:
            return None
        if refusal := await limits.graphql_request(caller):
            return refusal
        return await limits.charge(caller, cost) if cost else None

    def _cost(self, cost: int, budget: Budget | None) -> dict[str, Any]:
        """`extensions.cost`: this operation's cost, the most one may cost, and the
        caller's RATE_LIMIT_COST budget (null when that limit is off)."""
        return {
            "requestedQueryCost": cost,
            "maximumQueryCost": self.settings.max_query_cost,
            "throttleStatus": None
            if budget is None
            else {
                "maximumAvailable": budget.maximum,
                "currentlyAvailable": budget.remaining,
                "resetInSeconds": budget.reset_in,
            },
        }

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


def _rate_limited(refusal: Refusal, media_type: str) -> Response:
    what = "requests" if refusal.limit == "requests" else "query cost"
    return error_response(
        429,
        f"Too many {what} from this caller: try again in {refusal.retry_after} s",
        "RATE_LIMITED",
        media_type,
        refusal.headers,
    )


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

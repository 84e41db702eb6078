"""`WS /graphql`: the graphql-transport-ws protocol, with our admission rules and limits.

Strawberry's handler speaks the protocol; this one adds:

- Admission at `connection_init`: the token in `connectionParams.Authorization` goes
  through the same validation as an HTTP request's header (`Context.viewer`). A bad
  token closes the socket with 4403 (Forbidden); an unreachable identity provider with
  1013 (try again later); more than `MAX_CONNECTIONS_PER_CALLER` open sockets of one
  caller (the token's subject, or the client address when anonymous) with 4429.
- While the socket lasts, the token is validated again every
  `SUBSCRIPTION_AUTH_SECONDS` and at its expiry: expired, revoked, or its user
  deactivated, the socket closes with 4403.
- At most `MAX_SUBSCRIPTIONS_PER_CONNECTION` operations at once: one more is refused with
  an `error` message whose code is RATE_LIMITED.
- An operation that fails without data (a subscription whose events stopped, a query
  refused) ends with an `error` message carrying the codes, not a `next`.
- Messages larger than `MAX_BODY_BYTES` close the socket with 1009; replies go out as
  text frames (graphql-ws clients read text).

Every open socket is known to `Connections`, which closes them all (1001) when the app
shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from auth.errors import AuthenticationError
from auth.resource import bearer_token
from auth.tokens import peek
from resolvers.errors import ServiceUnavailable, Unauthenticated
from server.context import Context, close_websocket
from server.graphql_http import RequestError

if TYPE_CHECKING:
    from strawberry.schema.schema import StreamResult

    from server.graphql_app import GraphQLApp

logger = logging.getLogger("storefront.websocket")

FORBIDDEN = 4403
TOO_MANY_CONNECTIONS = 4429
TRY_AGAIN_LATER = 1013
MESSAGE_TOO_BIG = 1009
GOING_AWAY = 1001


class Connections:
    """The open sockets of one app, by caller: for the per-caller limit and shutdown."""

    def __init__(self) -> None:
        self._by_caller: dict[str, set[Context]] = {}

    def admit(self, caller: str, context: Context, limit: int) -> bool:
        held = self._by_caller.setdefault(caller, set())
        if len(held) >= limit:
            return False
        held.add(context)
        return True

    def release(self, caller: str, context: Context) -> None:
        held = self._by_caller.get(caller)
        if held is not None:
            held.discard(context)
            if not held:
                del self._by_caller[caller]

    async def close_all(self, code: int, reason: str) -> None:
        contexts = [context for held in self._by_caller.values() for context in held]
        await asyncio.gather(
            *(context.end_connection(code, reason) for context in contexts),
            return_exceptions=True,
        )


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Text frames out; a bound on the size of what comes in."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        limit = self.view.settings.max_body_bytes  # type: ignore[attr-defined]
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if len(text) > limit:
                    await close_websocket(
                        self.ws, MESSAGE_TOO_BIG, f"Messages are limited to {limit} bytes"
                    )
                    return
                try:
                    yield self.view.decode_json(text)
                except ValueError as error:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from error
        except KeyError as error:
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            pass

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        text = encoded.decode() if isinstance(encoded, bytes) else encoded
        # The client is gone: the receive loop ends the connection.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.ws.send_text(text)


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    context: Context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._caller: str | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def _settings(self) -> Any:
        return self.context.settings

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload") or {}
        if not isinstance(payload, dict):
            await self.websocket.close(4400, "Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(4429, "Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        refusal = await self._admit(payload)
        if refusal is not None:
            await self.websocket.close(*refusal)
            return
        await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True

    async def _admit(self, payload: dict[str, Any]) -> tuple[int, str] | None:
        """Check the token and the caller's connections; a (code, reason) to close with."""
        authorization = payload.get("Authorization", payload.get("authorization"))
        if authorization is not None and not isinstance(authorization, str):
            return FORBIDDEN, "Forbidden: Authorization must be a string"
        self.context.use_authorization(authorization)
        try:
            viewer = await self.context.viewer()
        except Unauthenticated:
            return FORBIDDEN, "Forbidden: invalid bearer token"
        except ServiceUnavailable:
            return TRY_AGAIN_LATER, "The identity provider cannot be reached"
        client = self.context.request.client
        caller = viewer.subject if viewer else f"address:{client.host if client else '-'}"
        if not self.view.connections.admit(  # type: ignore[attr-defined]
            caller, self.context, self._settings.max_connections_per_caller
        ):
            return TOO_MANY_CONNECTIONS, "Too many open connections for this caller"
        self._caller = caller
        if viewer is not None and authorization is not None:
            self._watch = asyncio.create_task(self._watch_token(authorization))
        return None

    async def _watch_token(self, authorization: str) -> None:
        """Close the socket once the token stops being valid (4403)."""
        expires_at = _expiry(authorization)
        interval = self._settings.subscription_auth_seconds
        while True:
            wait = interval if expires_at is None else min(interval, expires_at - time.time())
            await asyncio.sleep(max(wait, 0))
            if expires_at is not None and time.time() >= expires_at:
                await self.context.end_connection(FORBIDDEN, "Forbidden: the token expired")
                return
            self.context.use_authorization(authorization)
            try:
                await self.context.viewer()
            except Unauthenticated:
                await self.context.end_connection(FORBIDDEN, "Forbidden: the token is not valid")
                return
            except ServiceUnavailable:
                continue  # cannot tell now; the next check will

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self._settings.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            await self._refuse(
                message["id"],
                f"At most {limit} subscriptions may run on one connection",
                "RATE_LIMITED",
            )
            return
        if self.connection_acknowledged:
            allowed = await self._allowed_document(message)
            if allowed is None:
                return
            message = allowed
        await super().handle_subscribe(message)

    async def _allowed_document(self, message: SubscribeMessage) -> SubscribeMessage | None:
        """The message with the document PERSISTED_QUERIES lets run (in `only` mode, the
        registered operation), or None once an `error` message refused it: a WebSocket is
        no side door around the allow-list."""
        payload = message["payload"]
        view = cast("GraphQLApp", self.view)
        try:
            resolution = await view.persisted.resolve(
                payload.get("query"), payload.get("extensions"), None
            )
        except RequestError as refused:
            await self._refuse(message["id"], refused.message, refused.code)
            return None
        return {**message, "payload": {**payload, "query": resolution.query}}

    async def _refuse(self, operation_id: str, message: str, code: str) -> None:
        """End one subscription before it runs: an `error` message naming the code."""
        error = GraphQLError(message, extensions={"code": code})
        await self.send_message({"id": operation_id, "type": "error", "payload": [error.formatted]})

    async def _send_result_stream(
        self, operation: Operation[Context, None], result_source: StreamResult
    ) -> None:
        first = True
        async for result in result_source:
            if first and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            if result.data is None and result.errors:
                await operation.send_initial_errors(result.errors)
                return
            await operation.send_next(result)
            first = False

    async def shutdown(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._caller is not None:
            self.view.connections.release(self._caller, self.context)  # type: ignore[attr-defined]
        await super().shutdown()


def _expiry(authorization: str) -> float | None:
    """When the (already validated) token expires."""
    try:
        token = bearer_token(authorization)
        expires = peek(token).claims.get("exp") if token else None
    except AuthenticationError:
        return None
    return float(expires) if isinstance(expires, int | float) else None

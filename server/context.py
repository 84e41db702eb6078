"""The per-request context: built once per HTTP request or WebSocket connection."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from auth.errors import AuthenticationError, IdentityProviderUnavailable
from auth.resource import ResourceServer, Viewer
from events import Broker
from loaders import Loaders
from resolvers.errors import ServiceUnavailable, Unauthenticated
from server.metrics import TOKEN_VALIDATIONS
from server.settings import Settings
from telemetry.request import note_caller


@dataclass(eq=False)
class Context:
    """What resolvers may use at run time; nothing reaches up to `server` for it."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    request_id: str
    loaders: Loaders = field(default_factory=Loaders)
    authorization: str | None = None
    resource: ResourceServer | None = None
    # The event broker: mutations publish to it after commit, subscriptions listen.
    broker: Broker = field(default_factory=Broker)
    # A WebSocket's `connection_init` payload (Strawberry sets it).
    connection_params: dict[str, Any] | None = None
    _viewer: Viewer | None = field(default=None, init=False)
    _authenticated: bool = field(default=False, init=False)

    async def viewer(self) -> Viewer | None:
        """The caller the bearer token proves (checked once per request), or None.

        A token that is present but invalid raises UNAUTHENTICATED, whatever asked.
        """
        if not self._authenticated:
            self._viewer = await self._authenticate()
            self._authenticated = True
        return self._viewer

    def use_authorization(self, authorization: str | None) -> None:
        """Authenticate with this Authorization value from now on (a WebSocket's token
        arrives after the connection is made, and is checked again while it lasts)."""
        self.authorization = authorization
        self._authenticated = False
        self._viewer = None

    async def end_connection(self, code: int, reason: str) -> None:
        """Close the WebSocket this context belongs to (nothing over HTTP)."""
        if isinstance(self.request, WebSocket):
            await close_websocket(self.request, code, reason)

    async def _authenticate(self) -> Viewer | None:
        if self.resource is None:
            if self.authorization:
                raise Unauthenticated("This service accepts no bearer tokens")
            return None
        try:
            viewer = await self.resource.viewer(self.authorization)
        except AuthenticationError as error:
            TOKEN_VALIDATIONS.labels("invalid").inc()
            raise Unauthenticated(f"Invalid bearer token: {error}") from None
        except IdentityProviderUnavailable:
            TOKEN_VALIDATIONS.labels("unavailable").inc()
            raise ServiceUnavailable("The identity provider cannot be reached") from None
        if viewer is not None:
            TOKEN_VALIDATIONS.labels("valid").inc()
            # A client acting as itself has its client id as subject (RFC 9068).
            note_caller(viewer.subject or viewer.client_id or "-")
        return viewer


async def close_websocket(websocket: WebSocket, code: int, reason: str) -> None:
    """Close `websocket` unless it is closed already (by the client, or another task)."""
    if websocket.application_state is WebSocketState.CONNECTED:
        # RuntimeError: closed meanwhile, which is what was wanted.
        with contextlib.suppress(RuntimeError):
            await websocket.close(code, reason)

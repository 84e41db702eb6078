"""The per-request context: built once per HTTP request or WebSocket connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from loaders import Loaders
from server.settings import Settings


@dataclass(eq=False)
class Context:
    """What resolvers may use at run time; nothing reaches up to `server` for it."""

    request: Request | WebSocket
    response: Response | WebSocket | None
    settings: Settings
    request_id: str
    loaders: Loaders = field(default_factory=Loaders)

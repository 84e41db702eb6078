"""uvicorn's HTTP protocol with deadlines for reading a client's request.

uvicorn 0.54 bounds only the idle time between requests (`timeout_keep_alive`), and any
byte received cancels that timer: a client sending its headers or body one byte every
few seconds holds a connection, and the request's task, for as long as it likes. No
option covers it and ASGI middleware runs only once the headers are in, so the
deadlines live here: HTTP_HEADER_TIMEOUT from a connection's opening (or the end of the
previous response) to the end of the request's headers, answered 408 and closed, then
HTTP_BODY_TIMEOUT to the end of its body, closed (the app sees a disconnect). A reverse
proxy in front should set its own (see README, "Security").
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.settings import Settings, load_settings

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 22\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"Request Timeout: slow\n"
)


@cache
def _settings() -> Settings:
    # uvicorn makes the protocol from its import path, in every worker: it reads the
    # settings itself, once per process.
    return load_settings()


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline for each request's headers and body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self.header_timeout = settings.http_header_timeout
        self.body_timeout = settings.http_body_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
            # The first bytes of a further request on a kept-alive connection.
            self._arm(self.header_timeout, self._headers_too_slow)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout, self._body_too_slow)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

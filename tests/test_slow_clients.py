"""Slow and oversized clients against the real server (uvicorn, as `storefront serve`
runs it): headers or a body sent a byte at a time are cut off at their deadline, an idle
connection is closed, and a WebSocket message beyond MAX_BODY_BYTES closes the socket
with 1009 before it is parsed. Protocol checks: no database behind them matters.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.database import apply_migrations
from tests.conftest import start_server, stop_server, wait_healthy

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_BODY_BYTES = 100_000
# Far above the deadlines: a connection left open fails the test instead of hanging it.
GUARD = 15.0


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, int]]:
    """One server for the module: each test opens connections of its own."""
    tmp_path = tmp_path_factory.mktemp("slow")
    url = f"sqlite://{tmp_path / 'slow.sqlite3'}"
    await apply_migrations(url)
    process, base = start_server(
        url,
        tmp_path,
        {
            "HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
            "HTTP_BODY_TIMEOUT": str(BODY_TIMEOUT),
            "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        },
    )
    try:
        await asyncio.to_thread(wait_healthy, process, base)
        parts = urlsplit(base)
        assert parts.hostname is not None
        assert parts.port is not None
        yield parts.hostname, parts.port
    finally:
        stop_server(process)


async def trickle(host: str, port: int, head: bytes, trickled: bytes) -> tuple[bytes, float, int]:
    """Send `head`, then `trickled` a byte every 0.3 s until the server hangs up.

    The server's answer, how long after `head` the connection ended, and how many bytes
    of `trickled` were sent."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    await writer.drain()
    started = time.monotonic()
    sent = 0

    async def send_slowly() -> None:
        nonlocal sent
        for byte in trickled:
            await asyncio.sleep(0.3)
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1

    sender = asyncio.ensure_future(send_slowly())
    try:
        async with asyncio.timeout(GUARD):
            answer = await reader.read()
    finally:
        sender.cancel()
        writer.close()
    return answer, time.monotonic() - started, sent


async def test_headers_sent_a_byte_at_a_time_are_cut_off(server: tuple[str, int]) -> None:
    headers = b"Host: x\r\n" + b"X-Slow: " + b"a" * 40 + b"\r\n\r\n"
    answer, took, sent = await trickle(*server, b"GET /healthz HTTP/1.1\r\n", headers)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert sent < len(headers)
    print(f"slow headers: 408 after {took:.2f} s (HTTP_HEADER_TIMEOUT={HEADER_TIMEOUT})")


async def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    answer, _, _ = await trickle(*server, b"", b"")
    assert answer.startswith(b"HTTP/1.1 408"), answer


async def test_a_body_sent_a_byte_at_a_time_is_cut_off(server: tuple[str, int]) -> None:
    body = b'{"query": "{ __typename }"}' + b" " * 40
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    answer, took, sent = await trickle(*server, head, body)
    assert b"200 OK" not in answer, answer
    assert sent < len(body)
    print(f"slow body: closed after {took:.2f} s (HTTP_BODY_TIMEOUT={BODY_TIMEOUT})")


def two_requests_on_one_connection(host: str, port: int) -> None:
    connection = http.client.HTTPConnection(host, port, timeout=GUARD)
    try:
        for _ in range(2):
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"ok"}')
            # Past the header deadline since the connection opened: each request has its own.
            time.sleep(HEADER_TIMEOUT * 1.5)
    finally:
        connection.close()


async def test_a_prompt_client_is_answered_and_kept_alive(server: tuple[str, int]) -> None:
    await asyncio.to_thread(two_requests_on_one_connection, *server)


async def test_a_websocket_message_beyond_the_body_limit_closes_the_socket(
    server: tuple[str, int],
) -> None:
    host, port = server
    async with asyncio.timeout(GUARD):
        async with connect(
            f"ws://{host}:{port}/graphql", subprotocols=["graphql-transport-ws"]
        ) as websocket:  # type: ignore[list-item]
            await websocket.send('{"type": "connection_init"}')
            assert "connection_ack" in str(await websocket.recv())
            await websocket.send('{"type": "ping", "payload": "' + "x" * 8_000_000 + '"}')
            with pytest.raises(ConnectionClosed) as closed:
                await websocket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009

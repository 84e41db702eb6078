"""The load generator: concurrent clients POSTing one workload for a fixed time.

Each client is one keep-alive HTTP/1.1 connection written directly on asyncio streams:
httpx costs the client 3 to 9 ms of CPU per request at 32 connections, and the client
shares the machine's cores with the server and PostgreSQL, so a heavy client would take
CPU from what is measured.

Clients run without pause from the start of the warm-up to the end of the measured
window. Only requests that finish inside the window count, and the server's CPU time is
read at both ends of the window, so in-flight requests at either edge roughly cancel out.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psutil

from benchmarks.workloads import Bodies

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class ProtocolError(Exception):
    """The server's answer is not an HTTP/1.1 response this client can read."""


@dataclass
class Window:
    """What happened inside the measured window."""

    seconds: float = 0.0
    # Every request answered while the clients ran, warm-up and edges included.
    answered: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    server_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    first_error: str | None = None


class Connection:
    """One keep-alive HTTP/1.1 connection that POSTs and reads whole responses."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.head = f"POST {parts.path} HTTP/1.1\r\nhost: {parts.netloc}\r\n{lines}".encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST; reconnects when the connection was closed."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(b"%scontent-length: %d\r\n\r\n%s" % (self.head, len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(head)
            if not head.startswith(b"HTTP/1.1 ") or length is None:
                raise ProtocolError(head[:200].decode(errors="replace"))
            return int(head[9:12]), await reader.readexactly(int(length.group(1)))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def is_success(status: int, body: bytes) -> bool:
    return status == 200 and b'"errors":' not in body


class _Clock:
    """Which phase the run is in: warm-up, measuring, or done."""

    def __init__(self) -> None:
        self.measuring = False
        self.done = False


async def _client(connection: Connection, bodies: Bodies, clock: _Clock, window: Window) -> None:
    try:
        while not clock.done:
            started = time.perf_counter()
            try:
                status, body = await connection.post(bodies())
                failure = None if is_success(status, body) else f"{status} {body[:300]!r}"
            except (OSError, EOFError, asyncio.IncompleteReadError, ProtocolError) as error:
                failure = f"{type(error).__name__}: {error}"
            finished = time.perf_counter()
            window.answered += 1
            if not clock.measuring or clock.done:
                continue
            window.latencies.append(finished - started)
            if failure is not None:
                window.errors += 1
                window.first_error = window.first_error or failure
    finally:
        connection.close()


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def drive(
    url: str,
    bodies: Bodies,
    server_cpu: Callable[[], float],
    *,
    headers: dict[str, str],
    clients: int,
    warmup: float,
    duration: float,
) -> Window:
    """Run `clients` concurrent clients for `warmup` + `duration` seconds; measure the latter."""
    window = Window()
    clock = _Clock()
    me = psutil.Process()
    tasks = [
        asyncio.create_task(_client(Connection(url, headers), bodies, clock, window))
        for _ in range(clients)
    ]
    await asyncio.sleep(warmup)
    clock.measuring = True
    cpu_before, client_before, started = server_cpu(), _cpu_seconds(me), time.perf_counter()
    await asyncio.sleep(duration)
    clock.done = True
    window.seconds = time.perf_counter() - started
    window.server_cpu_seconds = server_cpu() - cpu_before
    window.client_cpu_seconds = _cpu_seconds(me) - client_before
    await asyncio.gather(*tasks)
    return window

"""A TCP proxy on 127.0.0.1 that can play a network partition.

It forwards to a real server until told to swallow: then it keeps every connection open
and accepts new ones, but forwards nothing in either direction, the way a partition
looks from the client (no refusal, no reset, just silence). `lose_answer_to(b"COMMIT")`
forwards the next chunk a client sends that holds those bytes, then swallows: the server
acts on it, but its answer never arrives.

It runs its own event loop in a thread, so that a test may block while a server child
process talks to the database through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import free_port


class PartitionProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.swallowing = False
        self._answer_lost_after: bytes | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def swallow(self) -> None:
        self.swallowing = True

    def heal(self) -> None:
        self.swallowing = False
        self._answer_lost_after = None

    def lose_answer_to(self, marker: bytes) -> None:
        self._answer_lost_after = marker

    @contextmanager
    def running(self) -> Iterator[PartitionProxy]:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, from_client=True),
                self._pipe(up_reader, writer, from_client=False),
            )
        finally:
            for each in (writer, up_writer):
                each.close()
                self._writers.discard(each)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.swallowing:
                    continue
                writer.write(chunk)
                marker = self._answer_lost_after
                if from_client and marker is not None and marker in chunk:
                    self.swallowing = True  # before the answer can come back
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

"""What automatic persisted queries save per request: bytes in, and server CPU.

    .venv/bin/python -m benchmarks.apq [--requests 400] [--redis redis://127.0.0.1:6379/14]

Seeds a small SQLite database (`storefront migrate` and `storefront seed`, 200 products)
in a temporary directory, then sends the listing page of issue 2 (`LISTING`, `first: 20`)
to the app in this process, straight through its ASGI interface (no HTTP client, no
sockets, so the figures are the app's own work), in each way a client may send it:

- `POST query`: the full document, as without APQ;
- `POST hash+query`: the full document with its hash (what a client sends after a miss;
  the server checks the hash and stores the document again);
- `POST hash`, `GET hash`: the hash alone, the document from the in-process store;
- `GET hash (Redis)`: the same with the document in Redis (when `--redis` answers).

For each it prints the request's bytes (the JSON body for POST, the request target for
GET; headers left out, they are the same in every case) and the CPU time of this process
per request (`time.process_time`, over `--requests` requests after 50 of warm-up, the
median of `--rounds` rounds). Parsing and validation are cached by document in every case
(`schema.limits`), so the CPU difference is what the protocol itself costs or saves.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from tortoise import Tortoise

from benchmarks.database import storefront
from benchmarks.workloads import LISTING
from server.app import create_app
from server.database import tortoise_config
from server.settings import Settings

VARIABLES = {"first": 20}
Request = tuple[str, str, bytes]  # method, target, body


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def requests() -> dict[str, Request]:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(LISTING)}}
    query_string = urlencode(
        {
            "operationName": "Listing",
            "variables": json.dumps(VARIABLES, separators=(",", ":")),
            "extensions": json.dumps(extensions, separators=(",", ":")),
        }
    )
    return {
        "POST query": (
            "POST",
            "/graphql",
            orjson.dumps({"query": LISTING, "variables": VARIABLES}),
        ),
        "POST hash+query": (
            "POST",
            "/graphql",
            orjson.dumps({"query": LISTING, "variables": VARIABLES, "extensions": extensions}),
        ),
        "POST hash": (
            "POST",
            "/graphql",
            orjson.dumps(
                {"operationName": "Listing", "variables": VARIABLES, "extensions": extensions}
            ),
        ),
        "GET hash": ("GET", f"/graphql?{query_string}", b""),
    }


async def call(app: Any, request: Request) -> tuple[int, bytes]:
    """One request through the app's ASGI interface."""
    method, target, body = request
    path, _, query_string = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string.encode(),
        "headers": [
            (b"host", b"bench"),
            (b"accept", b"application/json"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def cpu_per_request(app: Any, request: Request, count: int, rounds: int) -> float:
    """Median over rounds of this process's CPU milliseconds per request."""
    expected: bytes | None = None
    for _ in range(50):
        status, answer = await call(app, request)
        if status != 200 or b'"errors"' in answer:
            raise SystemExit(f"{request[0]} {request[1][:60]}: {status} {answer[:300]!r}")
        expected = expected or answer
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            await call(app, request)
        samples.append((time.process_time() - started) * 1000 / count)
    return statistics.median(samples)


async def protocol_cost(app: Any, suffix: str, count: int) -> str:
    """CPU microseconds the persisted-query step alone takes: a hash-only lookup, and a
    registration (hash check and store) for a hash sent with its document."""
    persisted = next(route.endpoint for route in app.routes if route.path == "/graphql").persisted
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha256(LISTING)}}
    lookups = time.process_time()
    for _ in range(count):
        await persisted.resolve(None, extensions, None)
    registrations = time.process_time()
    for _ in range(count):
        await persisted.remember(await persisted.resolve(LISTING, extensions, None))
    done = time.process_time()
    return (
        f"  the persisted-query step alone{suffix}: lookup "
        f"{(registrations - lookups) * 1e6 / count:.0f} us, hash check + store "
        f"{(done - registrations) * 1e6 / count:.0f} us"
    )


async def measure(database_url: str, redis_url: str | None, count: int, rounds: int) -> None:
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        stores = [("", Settings())]
        if redis_url:
            stores.append((" (Redis)", replace(Settings(), redis_url=redis_url)))
        listing = requests()
        print(f"{'request':<22}{'bytes in':>10}{'CPU ms/req':>12}")
        for suffix, settings in stores:
            app = create_app(replace(settings, database_url=database_url), manage_database=False)
            # The store must know the hash before hash-only requests.
            await call(app, listing["POST hash+query"])
            for name, request in listing.items():
                if suffix and not name.startswith("GET hash"):
                    continue
                size = len(request[2]) if request[0] == "POST" else len(request[1])
                milliseconds = await cpu_per_request(app, request, count, rounds)
                print(f"{name + suffix:<22}{size:>10}{milliseconds:>12.2f}")
            print(await protocol_cost(app, suffix, count * 10))
    finally:
        await Tortoise.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--redis", help="also measure the Redis store, e.g. redis://127.0.0.1:6379/14"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        database_url = f"sqlite://{Path(directory) / 'apq.sqlite3'}"
        storefront(database_url, "migrate")
        storefront(
            database_url,
            "seed",
            "--products",
            "200",
            "--users",
            "50",
            "--reviews",
            "1000",
            "--orders",
            "0",
        )
        asyncio.run(measure(database_url, args.redis, args.requests, args.rounds))


if __name__ == "__main__":
    main()

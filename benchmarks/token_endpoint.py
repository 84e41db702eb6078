"""Token endpoint throughput (`client_credentials`) and the cost of validating a token.

Starts the real service (`storefront serve`, uvicorn) on 127.0.0.1 against a fresh
database, registers a confidential client, then keeps `--concurrency` requests in flight
against `POST /oauth/token` for `--seconds` and reports requests per second and latency
percentiles. Then, in process, times the resource server turning a token into a viewer:
the first time it sees the token (signature and claims checked) and when the same token
comes back (remembered; only the in-memory revocation list is consulted).

    python -m benchmarks.token_endpoint --database sqlite
    python -m benchmarks.token_endpoint --database postgres --concurrency 64

The load generator shares the machine with the server: on a small machine it takes a
good part of the CPU, so the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psutil

from benchmarks.database import ADMIN_URL, on_fresh_database, storefront

ROOT = Path(__file__).resolve().parent.parent
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def cpu_seconds(process: psutil.Process) -> float:
    """CPU time of the server process and its children (uvicorn workers)."""
    total = 0.0
    for each in (process, *process.children(recursive=True)):
        times = each.cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def running_server(database_url: str, port: int, workers: int) -> Iterator[psutil.Process]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen([sys.executable, "-m", "server.cli", *command], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start within 30 s")
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


class Connection:
    """One keep-alive HTTP/1.1 connection POSTing the same form (httpx would cost the
    client several ms of CPU per request, on the same cores as the server)."""

    def __init__(self, port: int, client_id: str, secret: str) -> None:
        self.port = port
        credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        body = b"grant_type=client_credentials"
        self.request = (
            f"POST /oauth/token HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"authorization: Basic {credentials}\r\n"
            "content-type: application/x-www-form-urlencoded\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def run(self, deadline: float, latencies: list[float], failures: list[int]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(self.request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _CONTENT_LENGTH.search(head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                if head.startswith(b"HTTP/1.1 200"):
                    latencies.append(time.perf_counter() - started)
                else:
                    failures.append(int(head[9:12]))
        finally:
            writer.close()


async def drive(
    port: int, client_id: str, secret: str, concurrency: int, seconds: float
) -> tuple[list[float], list[int]]:
    """Latencies of the requests that succeeded, and the statuses of those that didn't."""
    latencies: list[float] = []
    failures: list[int] = []
    deadline = time.perf_counter() + seconds
    connections = [Connection(port, client_id, secret) for _ in range(concurrency)]
    await asyncio.gather(*(c.run(deadline, latencies, failures) for c in connections))
    return latencies, failures


async def validation_cost(database_url: str, token: str, rounds: int) -> tuple[float, float]:
    """Mean microseconds per validation: a token seen before, and a token seen first."""
    from tortoise import Tortoise

    from server.database import tortoise_config
    from server.oauth import build_auth
    from server.settings import load_settings

    settings = replace(load_settings(env_file=None), database_url=database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        resource = build_auth(settings).resource
        header = f"Bearer {token}"
        await resource.viewer(header)
        started = time.perf_counter()
        for _ in range(rounds):
            await resource.viewer(header)
        repeated = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for _ in range(rounds):
            await resource.local_claims(token)
        first_sight = (time.perf_counter() - started) / rounds * 1e6
    finally:
        await Tortoise.close_connections()
    return repeated, first_sight


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def benchmark(args: argparse.Namespace, database_url: str) -> None:
    storefront(database_url, "migrate")
    client = json.loads(
        storefront(database_url, "create-client", "--name", "bench", "--scopes", "catalog:write")
    )
    client_id, secret = client["client_id"], client["client_secret"]
    with running_server(database_url, args.port, args.workers) as server:
        await drive(args.port, client_id, secret, args.concurrency, 2)
        cpu_before = cpu_seconds(server)
        latencies, failures = await drive(
            args.port, client_id, secret, args.concurrency, args.seconds
        )
        server_cpu = cpu_seconds(server) - cpu_before
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://127.0.0.1:{args.port}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
        token = response.json()["access_token"]
    repeated, first_sight = await validation_cost(database_url, token, args.rounds)
    ok = len(latencies)
    print(
        f"token endpoint, client_credentials, {args.database}, {args.workers} worker(s), "
        f"{args.concurrency} in flight, {args.seconds:.0f} s:\n"
        f"  {ok / args.seconds:,.0f} requests/s ({ok} ok, {len(failures)} failed), "
        f"server CPU {server_cpu / max(ok, 1) * 1000:.2f} ms per request\n"
        f"  latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms\n"
        f"validating a token in process ({args.rounds} rounds):\n"
        f"  {first_sight:.0f} us the first time (signature and claims), "
        f"{repeated:.1f} us for a token seen before"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    if args.database == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            asyncio.run(benchmark(args, f"sqlite://{directory}/bench.sqlite3"))
        return
    on_fresh_database(
        ADMIN_URL, "storefront_bench_token", lambda database: benchmark(args, database.url)
    )


if __name__ == "__main__":
    main()

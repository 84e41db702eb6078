"""What the rate limiter costs per request, and how fast hostile requests are refused.

In process, no server: first the CPU time of the limiter for one GraphQL request with
`RATE_LIMIT` and `RATE_LIMIT_COST` both on (one request hit and one cost charge), with
the counters in memory and in Redis (this process's CPU only: Redis's own is not
counted); then the time from request to refusal of each hostile request of issue 7
(items 2 and 3), through the ASGI app over a fresh SQLite database, median of
`--repeat` requests.

    python -m benchmarks.rate_limit
    python -m benchmarks.rate_limit --redis redis://127.0.0.1:6379/15 --hits 20000
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import httpx
from tortoise import Tortoise

from auth.accounts import create_user
from auth.clients import create_client
from schema.limits import measure_operation, parse_document
from server.app import create_app
from server.database import apply_migrations, tortoise_config
from server.ratelimit import RateLimits
from server.settings import Settings

REDIRECT_URI = "http://localhost:3000/callback"
SEARCHED_COUNTS = (
    "{ "
    + " ".join(
        f'a{n}: products(first: 0, filter: {{search: "lamp"}}) {{ totalCount }}' for n in range(150)
    )
    + " }"
)


async def limiter_cpu(redis_url: str | None, hits: int) -> float:
    """Microseconds of CPU per GraphQL request spent in the limiter."""
    settings = replace(
        Settings(),
        redis_url=redis_url,
        rate_limit="1000000/minute",
        rate_limit_cost="1000000000/minute",
    )
    limits = RateLimits(settings)
    callers = [f"user:{uuid.uuid4()}" for _ in range(100)]
    for caller in callers:  # connections made, keys created
        await limits.graphql_request(caller)
    started = time.process_time()
    for n in range(hits):
        caller = callers[n % len(callers)]
        await limits.graphql_request(caller)
        await limits.charge(caller, 469)
    return (time.process_time() - started) / hits * 1e6


async def median_ms(request: Callable[[], Awaitable[httpx.Response]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await request()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 429), response.text
    return statistics.median(times)


def client_from(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def refusals(database_url: str, redis_url: str | None, repeat: int) -> dict[str, float]:
    """Milliseconds from request to refusal, by hostile request."""
    settings = replace(
        Settings(),
        database_url=database_url,
        redis_url=redis_url,
        login_rate_limit="1/hour",
        rate_limit="1/hour",
        rate_limit_cost="5000/hour",
    )
    app = create_app(settings, manage_database=False)
    await create_user(f"{uuid.uuid4()}@example.com", "Ann", "correct horse battery")
    public = await create_client("Shop", "orders:read", [REDIRECT_URI], public=True)
    confidential = await create_client("Backend", "orders:read", [], public=False)
    found: dict[str, float] = {}
    unlimited = create_app(
        replace(settings, rate_limit=None, rate_limit_cost=None), manage_database=False
    )
    async with client_from(unlimited, "192.0.2.1") as http:

        async def uncached() -> httpx.Response:
            parse_document.cache_clear()  # as if each request were a new variation
            measure_operation.cache_clear()
            return await http.post("/graphql", json={"query": SEARCHED_COUNTS})

        found["150 searched counts (QUERY_TOO_COMPLEX), uncached"] = await median_ms(
            uncached, repeat
        )
        found["150 searched counts (QUERY_TOO_COMPLEX), cached"] = await median_ms(
            lambda: http.post("/graphql", json={"query": SEARCHED_COUNTS}), repeat
        )
    async with client_from(app, "192.0.2.2") as http:
        await http.post("/graphql", json={"query": "{ __typename }"})
        found["GraphQL over RATE_LIMIT (429)"] = await median_ms(
            lambda: http.post("/graphql", json={"query": "{ __typename }"}), repeat
        )
    cost_app = create_app(replace(settings, rate_limit=None), manage_database=False)
    async with client_from(cost_app, "192.0.2.3") as http:
        listing = "{ products(first: 100) { totalCount edges { node { id } } } }"
        for _ in range(20):
            await http.post("/graphql", json={"query": listing})
        found["GraphQL over RATE_LIMIT_COST (429)"] = await median_ms(
            lambda: http.post("/graphql", json={"query": listing}), repeat
        )
    async with client_from(app, "192.0.2.4") as http:
        page = await http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": public.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "orders:read",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        fields = dict(
            (name, value)
            for name, value in _inputs(page.text)
            if name not in ("username", "password")
        )
        action = str(page.url)
        form = fields | {"username": "ann@example.com", "password": "guess"}
        await http.post(action, data=form)
        found["login form over LOGIN_RATE_LIMIT (429)"] = await median_ms(
            lambda: http.post(action, data=form), repeat
        )
    async with client_from(app, "192.0.2.5") as http:
        guess = {"grant_type": "client_credentials"}
        auth = (confidential.client_id, "guess")
        await http.post("/oauth/token", data=guess, auth=auth)
        found["token endpoint over LOGIN_RATE_LIMIT (429)"] = await median_ms(
            lambda: http.post("/oauth/token", data=guess, auth=auth), repeat
        )
    return found


def _inputs(page: str) -> list[tuple[str, str]]:
    found = []
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            found.append((name.group(1), value.group(1) if value else ""))
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default=None, help="a redis:// URL to time Redis storage too")
    parser.add_argument("--hits", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    storages: list[tuple[str, str | None]] = [("memory", None)]
    if args.redis:
        storages.append(("redis", args.redis))
    for name, url in storages:
        cpu = await limiter_cpu(url, args.hits)
        print(f"limiter CPU per GraphQL request ({name}): {cpu:.0f} us")
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite://{Path(folder) / 'bench.sqlite3'}"
        await apply_migrations(database_url)
        await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
        try:
            for name, url in storages:
                for what, ms in (await refusals(database_url, url, args.repeat)).items():
                    print(f"time to refuse, {what} ({name}): {ms:.2f} ms")
        finally:
            await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main())

"""Rate limits as clients meet them: sign-in attempts at the login form and the token
endpoint, GraphQL requests and query cost per caller, with HTTP 429 and Retry-After; the
client address behind trusted proxies only; Redis outages."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from limits import parse
from prometheus_client import REGISTRY
from starlette.applications import Starlette

from server.app import create_app
from server.ratelimit import Counters, RateLimits
from server.settings import ConfigError, Settings, load_settings
from tests.conftest import REDIS_URL, free_port, port_open, require_service
from tests.factories import PASSWORD, make_user
from tests.oauth import (
    authorize_url,
    client_credentials,
    form_action,
    form_fields,
    make_client,
    pkce_pair,
    redirect_params,
    refresh,
)

ANONYMOUS = "{ __typename }"
COUNTED = "{ products(first: 0) { totalCount } }"  # costs 28


def app_with(settings: Settings, **changes: Any) -> Starlette:
    return create_app(replace(settings, **changes), manage_database=False)


def client_from(app: Starlette, address: str) -> httpx.AsyncClient:
    """An HTTP client whose requests reach the app from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_rate_limited(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert "data" not in body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["RATE_LIMITED"]
    return body


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_RATE_LIMIT", "ten per minute"),
        ("LOGIN_RATE_LIMIT", "0/minute"),
        ("RATE_LIMIT", "600/day"),
        ("RATE_LIMIT_COST", "lots"),
        ("RATE_LIMIT_COST", "1000/minute"),  # below MAX_QUERY_COST
        ("FORWARDED_ALLOW_IPS", "10.0.0.1, proxy.internal"),
    ],
)
def test_bad_limits_stop_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, env_file=None)


def test_limits_settings_are_read() -> None:
    settings = load_settings(
        {
            "RATE_LIMIT": "600/minute",
            "RATE_LIMIT_COST": "50000",
            "FORWARDED_ALLOW_IPS": "10.0.0.0/8, ::1",
        },
        env_file=None,
    )

    assert settings.login_rate_limit == "10/minute"
    assert settings.rate_limit == "600/minute"
    assert settings.rate_limit_cost == "50000/minute"
    assert settings.forwarded_allow_ips == ("10.0.0.0/8", "::1")
    assert load_settings({"RATE_LIMIT": "off"}, env_file=None).rate_limit is None


# ---------------------------------------------------------------- GraphQL requests


@pytest.fixture
def plain_settings() -> Settings:
    """Settings for checks that need no database."""
    return Settings()


async def test_requests_over_the_limit_are_429(plain_settings: Settings) -> None:
    app = app_with(plain_settings, rate_limit="2/minute")
    before = metric("storefront_rate_limited_total", limit="requests")
    async with client_from(app, "192.0.2.1") as one, client_from(app, "192.0.2.2") as other:
        answered = [await one.post("/graphql", json={"query": ANONYMOUS}) for _ in range(2)]
        refused = await one.post("/graphql", json={"query": ANONYMOUS})
        elsewhere = await other.post("/graphql", json={"query": ANONYMOUS})

    assert [response.status_code for response in answered] == [200, 200]
    assert_rate_limited(refused)
    assert elsewhere.status_code == 200
    assert metric("storefront_rate_limited_total", limit="requests") == before + 1


async def test_requests_are_unlimited_by_default(plain_settings: Settings) -> None:
    async with client_from(app_with(plain_settings), "192.0.2.1") as http:
        statuses = {(await http.post("/graphql", json={"query": ANONYMOUS})).status_code}
        statuses |= {(await http.post("/graphql", json={"query": ANONYMOUS})).status_code}

    assert statuses == {200}


async def test_x_forwarded_for_is_believed_from_trusted_proxies_only(
    plain_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with(plain_settings, rate_limit="1/minute", forwarded_allow_ips=("10.0.0.0/8",))

    async def ask(http: httpx.AsyncClient, forwarded_for: str) -> int:
        response = await http.post(
            "/graphql", json={"query": ANONYMOUS}, headers={"x-forwarded-for": forwarded_for}
        )
        return response.status_code

    with caplog.at_level(logging.INFO, logger="storefront.access"):
        async with client_from(app, "10.1.2.3") as proxy, client_from(app, "198.51.100.7") as peer:
            through_proxy = [await ask(proxy, "203.0.113.1"), await ask(proxy, "203.0.113.2")]
            forged = [await ask(peer, "203.0.113.3"), await ask(peer, "203.0.113.4")]

    assert through_proxy == [200, 200]  # two clients behind the proxy
    assert forged == [200, 429]  # one client, whatever it claims
    logged = [record.getMessage() for record in caplog.records]
    assert any(" client=203.0.113.1 " in line for line in logged), logged
    assert any(" client=198.51.100.7 " in line for line in logged), logged
    assert not any("203.0.113.3" in line for line in logged), logged


# ---------------------------------------------------------------- query cost


async def test_query_cost_over_the_budget_is_429(db: str) -> None:
    app = app_with(Settings(database_url=db), rate_limit_cost="60/minute", rate_limit="100/minute")
    body = {"query": COUNTED, "extensions": {"cost": True}}
    async with client_from(app, "192.0.2.9") as http:
        first = (await http.post("/graphql", json=body)).json()
        second = (await http.post("/graphql", json=body)).json()
        third = await http.post("/graphql", json=body)
        cheap = await http.post("/graphql", json={"query": ANONYMOUS})

    assert first["extensions"]["cost"]["requestedQueryCost"] == 28
    assert first["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 60
    assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 32
    assert second["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 4
    assert_rate_limited(third)
    assert cheap.status_code == 200  # a free query still fits


async def test_a_refused_document_spends_no_cost(plain_settings: Settings) -> None:
    app = app_with(plain_settings, rate_limit_cost="100/minute")
    huge = "{ products(first: 100) { edges { node { reviews(first: 100) { totalCount } } } } }"
    async with client_from(app, "192.0.2.10") as http:
        refused = await http.post("/graphql", json={"query": huge})
        then = await http.post("/graphql", json={"query": ANONYMOUS, "extensions": {"cost": True}})

    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert then.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 100


# ---------------------------------------------------------------- sign-in attempts


async def sign_in_from(
    http: httpx.AsyncClient, client_id: str, email: str, password: str
) -> httpx.Response:
    _, challenge = pkce_pair()
    page = await http.get(authorize_url(client_id, challenge))
    assert page.status_code == 200, page.text
    fields = form_fields(page.text) | {"username": email, "password": password}
    return await http.post(form_action(page.text), data=fields)


async def test_guessing_passwords_is_stopped_without_locking_out_the_user(db: str) -> None:
    await make_user("ann@example.com")
    client = await make_client()
    app = app_with(Settings(database_url=db), login_rate_limit="3/minute")

    async with client_from(app, "192.0.2.66") as attacker, client_from(app, "192.0.2.5") as ann:
        guesses = [
            await sign_in_from(attacker, client.client_id, "ann@example.com", f"guess {n}")
            for n in range(3)
        ]
        stopped = await sign_in_from(attacker, client.client_id, "ann@example.com", PASSWORD)
        real = await sign_in_from(ann, client.client_id, "ann@example.com", PASSWORD)

    assert [guess.status_code for guess in guesses] == [400, 400, 400]
    assert stopped.status_code == 429
    assert int(stopped.headers["retry-after"]) >= 1
    assert stopped.headers["content-type"].startswith("text/html")
    assert "Too many sign-in attempts" in stopped.text
    assert "code" in redirect_params(real)


async def test_guessing_from_many_addresses_is_stopped_per_account(db: str) -> None:
    await make_user("ann@example.com")
    await make_user("bob@example.com")
    client = await make_client()
    app = app_with(Settings(database_url=db), login_rate_limit="1/minute")

    for n in range(10):  # ACCOUNT_FACTOR addresses, each at its own limit
        async with client_from(app, f"192.0.2.{100 + n}") as bot:
            guess = await sign_in_from(bot, client.client_id, "ann@example.com", f"guess {n}")
            assert guess.status_code == 400
    async with client_from(app, "192.0.2.200") as fresh:
        ann = await sign_in_from(fresh, client.client_id, "ann@example.com", PASSWORD)
    async with client_from(app, "192.0.2.201") as other:
        bob = await sign_in_from(other, client.client_id, "bob@example.com", PASSWORD)

    assert ann.status_code == 429
    assert "code" in redirect_params(bob)


async def test_guessing_client_secrets_is_429_with_an_oauth_error(db: str) -> None:
    client = await make_client("orders:manage", public=False)
    app = app_with(Settings(database_url=db), login_rate_limit="2/minute")
    wrong = replace(client, client_secret="not the secret")

    async with client_from(app, "192.0.2.66") as attacker, client_from(app, "192.0.2.5") as owner:
        guesses = [await client_credentials(attacker, wrong) for _ in range(2)]
        stopped = await client_credentials(attacker, client)
        introspection = await attacker.post(
            "/oauth/introspect", data={"token": "x"}, auth=(client.client_id, "guess")
        )
        real = await client_credentials(owner, client)

    assert [guess.json()["error"] for guess in guesses] == ["invalid_client"] * 2
    assert stopped.status_code == 429
    assert int(stopped.headers["retry-after"]) >= 1
    assert stopped.json()["error"] == "temporarily_unavailable"
    assert introspection.status_code == 429
    assert real.status_code == 200, real.text


async def test_guessing_refresh_tokens_is_429(db: str) -> None:
    client = await make_client()
    app = app_with(Settings(database_url=db), login_rate_limit="2/minute")

    async with client_from(app, "192.0.2.66") as attacker:
        guesses = [await refresh(attacker, client.client_id, f"guess-{n}") for n in range(2)]
        stopped = await refresh(attacker, client.client_id, "guess-3")

    assert [guess.json()["error"] for guess in guesses] == ["invalid_grant"] * 2
    assert stopped.status_code == 429
    assert stopped.json()["error"] == "temporarily_unavailable"


# ---------------------------------------------------------------- storages and outages


@pytest.fixture
def redis_url() -> str:
    require_service(port_open("127.0.0.1", 6379), "Redis is not reachable on 127.0.0.1:6379")
    return REDIS_URL


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_limits_hold_in_each_storage(storage: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url") if storage == "redis" else None
    limits = RateLimits(replace(Settings(), redis_url=url, rate_limit="3/minute"))
    caller = f"address:{uuid.uuid4()}"

    outcomes = [await limits.graphql_request(caller) for _ in range(4)]

    assert outcomes[:3] == [None, None, None]
    assert outcomes[3] is not None
    assert outcomes[3].retry_after >= 1
    if url is not None:
        assert limits.counters.failing_since is None  # counted in Redis


class RedisServer:
    """A private redis-server on a free port, stopped and started at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            if port_open("127.0.0.1", self.port):
                return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start within 5 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)
            self.process = None


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    require_service(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer()
    await asyncio.to_thread(server.start)
    yield server
    server.stop()


@pytest.fixture
def ratelimit_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="storefront.ratelimit"):
        yield caplog


async def test_a_redis_outage_falls_back_to_memory_and_recovers(
    redis_server: RedisServer, ratelimit_log: pytest.LogCaptureFixture
) -> None:
    item = parse("2/minute")
    counters = Counters(redis_server.url, timeout=0.2, retry_seconds=0)
    before = metric("storefront_rate_limit_fallbacks_total")

    assert await counters.hit(item, "shared")
    redis_server.stop()
    during = [await counters.hit(item, "outage") for _ in range(3)]
    warnings = [r for r in ratelimit_log.records if r.levelno == logging.WARNING]
    await asyncio.to_thread(redis_server.start)
    after = [await counters.hit(item, "shared") for _ in range(2)]

    assert during == [True, True, False]  # limited in memory: neither open nor shut
    assert len(warnings) == 1
    assert "counted in memory" in warnings[0].getMessage()
    assert metric("storefront_rate_limit_fallbacks_total") >= before + 3
    assert counters.failing_since is None
    # The restarted server is empty: Redis counts again from zero.
    assert after == [True, True]
    assert "answers again" in ratelimit_log.records[-1].getMessage()

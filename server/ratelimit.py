"""Rate limits: sign-in attempts, GraphQL requests and query-cost points per caller.

Counting is the `limits` library's sliding window counter (two counters per key, no
list of timestamps; a hit that would go over the limit takes nothing). With `REDIS_URL`
the counters live in Redis, so every instance shares one budget; otherwise in memory.

Sign-in attempts (`LOGIN_RATE_LIMIT`, the login form and client-secret and
refresh-token requests at `/oauth/token`) are limited twice:

- per client address, every attempt counts, and it is taken before the password is
  checked, so that parallel guessers can't overshoot the limit;
- per account (an e-mail, or a client id), only failed attempts count, from every
  address together, and the account allows `ACCOUNT_FACTOR` times the limit.

A guesser at one address is stopped by the first limit after `LOGIN_RATE_LIMIT`
attempts and can never fill the second, so the real user signing in from elsewhere is
not locked out by them. The account limit is what stops guessing spread over many
addresses; only an attack from `ACCOUNT_FACTOR` or more addresses at full speed locks
the account out (for everyone, until its window passes), which is the price of bounding
a distributed attack without device cookies.

When Redis does not answer (within `REDIS_TIMEOUT`), the limiter counts in memory: each
instance then enforces the limits on its own traffic, neither refusing everyone nor
letting everyone in. It logs one WARNING until Redis answers again, counts every
decision made in memory in `storefront_rate_limit_fallbacks_total`, and tries Redis again
every `RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import Scope

from auth.resource import Viewer
from server.settings import Settings

T = TypeVar("T")

ACCOUNT_FACTOR = 10
# Longer account names (no e-mail or client id is this long) share a key: a client can't
# make the limiter store megabyte keys.
_LONGEST_ACCOUNT = 256
REDIS_TIMEOUT = 0.5
RETRY_SECONDS = 5.0
_KEY_PREFIX = "storefront-limits"

logger = logging.getLogger("storefront.ratelimit")

RATE_LIMITED = Counter(
    "storefront_rate_limited_total", "Requests refused by a rate limit", ["limit"]
)
FALLBACKS = Counter(
    "storefront_rate_limit_fallbacks_total",
    "Rate-limit decisions made in memory because Redis did not answer",
)


def client_address(scope: Scope) -> str:
    """The client address of a request: the peer, or, when the peer is a proxy named in
    FORWARDED_ALLOW_IPS, the client it forwarded for (the app's outermost middleware,
    uvicorn's ProxyHeadersMiddleware, has already put that in `scope["client"]`)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which one, and when to try again."""

    limit: str
    retry_after: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class Budget:
    """What is left of a caller's budget (for `extensions.cost`)."""

    maximum: int
    remaining: int
    reset_in: int


class Counters:
    """The limiter on Redis, falling back to memory while Redis does not answer."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        timeout: float = REDIS_TIMEOUT,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.redis = (
            SlidingWindowCounterRateLimiter(
                RedisStorage(
                    f"async+{redis_url}",
                    implementation="redispy",
                    wrap_exceptions=True,
                    key_prefix=_KEY_PREFIX,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                )
            )
            if redis_url
            else None
        )
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.failing_since: float | None = None
        self.retry_at = 0.0

    async def hit(self, item: RateLimitItem, key: str, cost: int = 1) -> bool:
        return await self._run(lambda limiter: limiter.hit(item, key, cost=cost))

    async def test(self, item: RateLimitItem, key: str) -> bool:
        return await self._run(lambda limiter: limiter.test(item, key))

    async def retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = await self._run(lambda limiter: limiter.get_window_stats(item, key))
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def budget(self, item: RateLimitItem, key: str) -> Budget:
        stats = await self._run(lambda limiter: limiter.get_window_stats(item, key))
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        return Budget(maximum=item.amount, remaining=stats.remaining, reset_in=reset_in)

    async def _run(self, call: Callable[[SlidingWindowCounterRateLimiter], Awaitable[T]]) -> T:
        if self.redis is not None and time.monotonic() >= self.retry_at:
            try:
                async with asyncio.timeout(self.timeout * 2):
                    result = await call(self.redis)
            except (StorageError, RedisError, OSError, TimeoutError) as error:
                self._failed(error)
            else:
                self._answered()
                return result
        if self.redis is not None:
            FALLBACKS.inc()
        return await call(self.memory)

    def _failed(self, error: Exception) -> None:
        now = time.monotonic()
        self.retry_at = now + self.retry_seconds
        if self.failing_since is None:
            self.failing_since = now
            logger.warning(
                "Redis does not answer (%s): rate limits are counted in memory, per "
                "instance, until it does",
                _reason(error),
            )

    def _answered(self) -> None:
        if self.failing_since is not None:
            logger.info(
                "Redis answers again: rate limits are shared again after %.0f s in memory",
                time.monotonic() - self.failing_since,
            )
            self.failing_since = None


def _reason(error: Exception) -> str:
    cause: Any = getattr(error, "storage_error", None) or error
    return f"{type(cause).__name__}: {cause}"


class RateLimits:
    """The limits of one app (see the module's docstring)."""

    def __init__(self, settings: Settings, counters: Counters | None = None) -> None:
        self.counters = counters or Counters(settings.redis_url)
        self.login = parse(settings.login_rate_limit)
        self.account = type(self.login)(self.login.amount * ACCOUNT_FACTOR, self.login.multiples)
        self.requests = parse(settings.rate_limit) if settings.rate_limit else None
        self.cost = parse(settings.rate_limit_cost) if settings.rate_limit_cost else None

    @property
    def graphql_limited(self) -> bool:
        return self.requests is not None or self.cost is not None

    async def sign_in_attempt(self, address: str, account: str) -> Refusal | None:
        """Take one attempt for `address`, unless it or `account` is over its limit."""
        account_key = _account_key(account)
        if not await self.counters.test(self.account, account_key):
            return await self._refusal("login", self.account, account_key)
        address_key = f"address:{address}"
        if not await self.counters.hit(self.login, address_key):
            return await self._refusal("login", self.login, address_key)
        return None

    async def sign_in_failed(self, account: str) -> None:
        await self.counters.hit(self.account, _account_key(account))

    async def graphql_request(self, caller: str) -> Refusal | None:
        """Count one GraphQL request of `caller`; a refusal when over RATE_LIMIT."""
        if self.requests is None or await self.counters.hit(self.requests, f"requests:{caller}"):
            return None
        return await self._refusal("requests", self.requests, f"requests:{caller}")

    async def charge(self, caller: str, cost: int) -> Refusal | None:
        """Take `cost` points from `caller`'s budget; a refusal when over RATE_LIMIT_COST
        (then nothing is taken)."""
        key = f"cost:{caller}"
        if self.cost is None or await self.counters.hit(self.cost, key, cost):
            return None
        return await self._refusal("cost", self.cost, key)

    async def cost_budget(self, caller: str) -> Budget | None:
        if self.cost is None:
            return None
        return await self.counters.budget(self.cost, f"cost:{caller}")

    async def _refusal(self, limit: str, item: RateLimitItem, key: str) -> Refusal:
        RATE_LIMITED.labels(limit=limit).inc()
        return Refusal(limit, await self.counters.retry_after(item, key))


def _account_key(account: str) -> str:
    return f"account:{account[:_LONGEST_ACCOUNT]}"


def caller_key(viewer: Viewer | None, address: str) -> str:
    """Whose budget a GraphQL request spends: the token's user, the client acting as
    itself (client_credentials), or the client address when anonymous."""
    if viewer is None:
        return f"address:{address}"
    if viewer.is_client:
        return f"client:{viewer.client_id}"
    return f"user:{viewer.subject}"

"""The external identity provider's public keys, fetched with httpx and cached.

The key set is fetched when first needed and again after `cache_seconds`. A token naming
a `kid` we don't have triggers a refetch (the provider may have rotated), but at most one
fetch per `refetch_seconds` whatever the reason: a stream of forged `kid`s costs the
provider one request per interval. Concurrent callers share one fetch. When a fetch fails
the keys we already have stay in use; with none at all, `IdentityProviderUnavailable`.

A fetch has one deadline for the whole of it (connecting, headers, body): httpx's own
timeouts bound each read, and a provider sending a byte every few seconds would pass
them for as long as it likes. Past the deadline the fetch counts as failed, and the next
one waits for `refetch_seconds` like any other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from auth.errors import IdentityProviderUnavailable

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 5.0  # for the whole fetch
# Symmetric ("oct") keys would let anyone holding the published key forge tokens.
ASYMMETRIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

Fetch = Callable[[str], Awaitable[Any]]


async def fetch_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as http:
        response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()


def _import_keys(document: Any) -> dict[str, Key]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no `keys` list")
    keys: dict[str, Key] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in ASYMMETRIC_KEY_TYPES:
            continue
        if not isinstance(entry.get("kid"), str) or entry.get("use", "sig") != "sig":
            continue
        public = {name: value for name, value in entry.items() if name != "d"}
        try:
            keys[entry["kid"]] = JWKRegistry.import_key(public)
        except (JoseError, ValueError, TypeError):
            logger.warning("ignoring an unreadable key %r in the JWKS", entry.get("kid"))
    return keys


class RemoteJwks:
    def __init__(
        self,
        url: str,
        *,
        cache_seconds: int,
        refetch_seconds: int,
        fetch: Fetch = fetch_json,
        clock: Callable[[], float] = time.monotonic,
        fetch_seconds: float = FETCH_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.refetch_seconds = refetch_seconds
        self._fetch = fetch
        self._clock = clock
        self._fetch_seconds = fetch_seconds
        self._keys: dict[str, Key] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._inflight: asyncio.Future[None] | None = None

    async def key(self, kid: str) -> Key | None:
        """The provider's key `kid`, or None when it has no such key."""
        stale = self._clock() - self._fetched_at >= self.cache_seconds
        if self._keys is None or stale or kid not in self._keys:
            await self._refresh()
        if self._keys is None:
            raise IdentityProviderUnavailable("the identity provider's keys are unavailable")
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        if self._inflight is None or self._inflight.done():
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self.refetch_seconds:
                return
            self._attempted_at = now
            self._inflight = asyncio.ensure_future(self._download())
        # Shielded: a caller that gives up doesn't cancel the fetch the others wait for.
        await asyncio.shield(self._inflight)

    async def _download(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_seconds):
                document = await self._fetch(self.url)
            keys = _import_keys(document)
        except TimeoutError:
            logger.warning(
                "fetching the JWKS at %s took longer than %s s; gave up",
                self.url,
                self._fetch_seconds,
            )
            return
        except (httpx.HTTPError, ValueError) as error:
            logger.warning("fetching the JWKS at %s failed: %s", self.url, error)
            return
        self._keys = keys
        self._fetched_at = self._clock()

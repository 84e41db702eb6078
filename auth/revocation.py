"""The list of revoked access tokens, as each instance sees it.

Checking the database on every request would add a query to every authenticated call.
Instead each instance keeps the list in memory and reloads it when it is older than
`refresh_seconds` (the list is short: a revoked token's entry disappears when the token
would have expired anyway). A revocation made by this instance counts at once (the
authorization server reloads the list after revoking); one made by another instance, or
from the command line, counts within `refresh_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from models.oauth import RevokedAccessToken

REFRESH_SECONDS = 2.0


class RevocationList:
    def __init__(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._jtis: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._inflight: asyncio.Future[None] | None = None

    async def is_revoked(self, jti: str) -> bool:
        if self._clock() - self._loaded_at >= self.refresh_seconds:
            # Concurrent requests share one query.
            if self._inflight is None or self._inflight.done():
                self._inflight = asyncio.ensure_future(self._load())
            await asyncio.shield(self._inflight)
        return jti in self._jtis

    async def reload(self) -> None:
        """Read the list now, with a query of its own: one already running may have
        started before the revocation that prompts this call."""
        self._inflight = asyncio.ensure_future(self._load())
        await asyncio.shield(self._inflight)

    async def _load(self) -> None:
        started = self._clock()
        jtis = await RevokedAccessToken.filter(expires_at__gt=datetime.now(UTC)).values_list(
            "jti", flat=True
        )
        # A slower, older load must not replace what a newer one found.
        if started >= self._loaded_at:
            self._jtis = frozenset(str(jti) for jti in jtis)
            self._loaded_at = started

"""Whether a user's tokens still count: the account's state as every instance sees it.

Tokens say who the user was when they were issued. Deactivation, the end of the user's
sessions (`tokens_valid_after`) and the loss of staff rights must reach tokens already
out there, on every instance, without a query on every request: each instance keeps each
user's state for `cache_seconds` (5 by default, `ACCOUNT_STATUS_SECONDS`), so a change
made anywhere (another instance, the command line) counts everywhere within that time.
Concurrent requests of one user share one query; a cached state costs no statement.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from models.accounts import User

CACHE_SECONDS = 5.0
_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class AccountState:
    is_active: bool
    is_staff: bool
    # Access tokens issued at or before this (epoch seconds) are refused.
    tokens_valid_after: float | None

    def accepts(self, issued_at: int | None) -> bool:
        """Whether a token of this user issued at `issued_at` (a whole second, as `iat`
        is) still counts. A token issued in the second of a cut-off is refused too."""
        if not self.is_active:
            return False
        return self.tokens_valid_after is None or (issued_at or 0) > self.tokens_valid_after


class AccountStatus:
    """Users' account states, each cached for `cache_seconds` (0: read on every call)."""

    def __init__(
        self, cache_seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._states: OrderedDict[int, tuple[AccountState | None, float]] = OrderedDict()
        self._inflight: dict[int, asyncio.Future[AccountState | None]] = {}

    async def state(self, user_id: int) -> AccountState | None:
        """The user's state; None when the user no longer exists."""
        cached = self._states.get(user_id)
        if cached is not None and self._clock() - cached[1] < self.cache_seconds:
            return cached[0]
        future = self._inflight.get(user_id)
        if future is None:
            future = self._inflight[user_id] = asyncio.ensure_future(self._load(user_id))
            future.add_done_callback(lambda _: self._inflight.pop(user_id, None))
        return await asyncio.shield(future)

    def forget(self, user_id: int) -> None:
        """Drop what this instance knows of the user (it changed the account itself)."""
        self._states.pop(user_id, None)

    async def _load(self, user_id: int) -> AccountState | None:
        started = self._clock()
        row = await User.filter(id=user_id).values_list(
            "is_active", "is_staff", "tokens_valid_after"
        )
        state = None
        if row:
            is_active, is_staff, valid_after = row[0]
            state = AccountState(
                bool(is_active),
                bool(is_staff),
                valid_after.timestamp() if valid_after is not None else None,
            )
        self._states[user_id] = (state, started)
        self._states.move_to_end(user_id)
        if len(self._states) > _CACHE_SIZE:
            self._states.popitem(last=False)
        return state

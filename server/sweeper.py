"""Each instance's order sweeper: cancels unpaid orders whose hold is over, every
ORDER_SWEEP_SECONDS, for as long as the app runs.

Several instances sweep side by side without harm (each order moves once, see
`resolvers.orders.expire_orders`). A failed sweep (the database away) is logged and the
next one tries again; shutting down waits a bounded time for a sweep in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from resolvers.orders import Expiry

logger = logging.getLogger("storefront.orders")

# How long shutdown waits for a sweep in progress before cancelling it (its transaction
# then rolls back; the next sweep, here or elsewhere, does its work).
STOP_SECONDS = 5.0

Sweep = Callable[[], Awaitable[Expiry]]


async def sweep_once(sweep: Sweep) -> Expiry | None:
    """One sweep; None, logged, when it failed."""
    try:
        expiry = await sweep()
    except Exception:
        logger.warning("order expiry sweep failed; retrying at the next interval", exc_info=True)
        return None
    if expiry.orders:
        logger.info(
            "expired %d unpaid orders; %d units back in stock",
            len(expiry.orders),
            sum(expiry.restocked.values()),
        )
    return expiry


async def _sweep_until(stop: asyncio.Event, interval: float, sweep: Sweep) -> None:
    while not stop.is_set():
        await sweep_once(sweep)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


@contextlib.asynccontextmanager
async def order_sweeper(interval: float, sweep: Sweep) -> AsyncIterator[None]:
    """Sweep now and every `interval` seconds while the context is open."""
    stop = asyncio.Event()
    task = asyncio.create_task(_sweep_until(stop, interval, sweep), name="order-sweeper")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, STOP_SECONDS)
        except TimeoutError:
            logger.warning("order expiry sweep still running at shutdown: cancelled")

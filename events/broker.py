"""The broker: publish after commit, fan out to listeners, in process or through Redis.

Two topics: `inventory` (a product's stock moved; keyed by product id) and `orders` (an
order's status changed; keyed by the order's public id). A listener asks for some keys
of a topic, or all of them, and gets the events in a queue of its own, bounded: a
listener that falls `queue_size` events behind is dropped with `SlowConsumer` instead
of holding memory.

With Redis, a publish is one PUBLISH on the topic's channel, and each process holds one
pub/sub connection subscribed to both channels, whatever its number of listeners: an
event crosses Redis once per process, then fans out in memory. The process that
publishes hears its own events back from Redis like every other, so each listener gets
each event once.

Redis may go away. Publishing never fails a mutation (it has committed already): a
failed publish is counted and logged (once, until publishing works again). The pub/sub
reader notices a lost connection (an error, or no answer to its pings within
`timeout`), ends every listener with `EventsUnavailable` (their subscriptions end with
SERVICE_UNAVAILABLE; clients may subscribe again), refuses new listeners until Redis is
back, and reconnects by itself, every wait bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter, Gauge

logger = logging.getLogger("storefront.events")

INVENTORY = "inventory"
ORDERS = "orders"
TOPICS = (INVENTORY, ORDERS)
CHANNEL_PREFIX = "storefront:events:"

PUBLISHED = Counter(
    "storefront_events_published_total",
    "Events published, by topic and outcome (ok, failed)",
    ["topic", "outcome"],
)
DELIVERED = Counter(
    "storefront_events_delivered_total",
    "Events handed to a listener of this process, by topic",
    ["topic"],
)
DROPPED = Counter(
    "storefront_events_listeners_dropped_total",
    "Listeners ended by the broker, by reason (slow_consumer, unavailable)",
    ["reason"],
)
ACTIVE = Gauge(
    "storefront_subscriptions_active",
    "Open subscriptions (listeners) on the broker",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True, eq=False)
class InventoryChange:
    """A product's stock moved by `delta` units. Compared by identity: each event is one
    object per process, which its listeners there share (and may cache work on)."""

    product_id: int
    delta: int


@dataclass(frozen=True, eq=False)
class OrderStatusChange:
    """An order's status changed; listeners read the order as it is now."""

    order_id: str  # the order's public id, as in its global ID


Event = InventoryChange | OrderStatusChange


class EventsUnavailable(Exception):
    """The broker cannot deliver events (Redis is unreachable)."""


class SlowConsumer(Exception):
    """A listener fell more than its queue's size behind."""


class Listener:
    """One subscription's view of a topic: an async iterator over its events."""

    def __init__(
        self, broker: Broker, topic: str, keys: frozenset[int | str] | None, size: int
    ) -> None:
        self.topic = topic
        self.keys = keys
        self._broker = broker
        self._size = size
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._failure: Exception | None = None

    def offer(self, event: Event) -> None:
        if self._failure is not None:
            return
        if len(self._events) >= self._size:
            DROPPED.labels("slow_consumer").inc()
            self.fail(SlowConsumer(f"more than {self._size} events were waiting to be sent"))
            return
        self._events.append(event)
        DELIVERED.labels(self.topic).inc()
        self._ready.set()

    def fail(self, failure: Exception) -> None:
        """End the listener: its next read raises `failure` (after nothing else)."""
        self._failure = failure
        self._events.clear()
        self._broker.remove(self)
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self._failure is not None:
                raise self._failure
            self._ready.clear()
            await self._ready.wait()
        return self._events.popleft()

    def close(self) -> None:
        self._broker.remove(self)


class Broker:
    """In-process fan-out; `RedisBroker` adds Redis between processes."""

    def __init__(self, *, queue_size: int = 100) -> None:
        self.queue_size = queue_size
        # topic -> key (None: every key) -> listeners
        self._listeners: dict[str, dict[int | str | None, set[Listener]]] = {
            topic: {} for topic in TOPICS
        }

    @property
    def crosses_processes(self) -> bool:
        return False

    async def start(self) -> None:
        """Connect to what carries events between processes (nothing here)."""

    async def close(self) -> None:
        """End every listener and disconnect."""
        self.fail_all(EventsUnavailable("the server is shutting down"))

    # -------------------------------------------------------------- publishing

    async def publish_inventory(self, changes: Iterable[tuple[int, int]]) -> None:
        """Tell listeners that each (product id, delta) moved stock. After commit only."""
        moved = [(product_id, delta) for product_id, delta in changes if delta]
        if moved:
            await self._publish(INVENTORY, moved)

    async def publish_order_status(
        self, order_id: str, restocked: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Tell listeners that an order's status changed and which (product id, quantity)
        went back into stock with it (a cancellation). After commit only."""
        await self._publish(ORDERS, [order_id])
        await self.publish_inventory(restocked)

    async def _publish(self, topic: str, items: list[Any]) -> None:
        self.dispatch(topic, items)
        PUBLISHED.labels(topic, "ok").inc()

    def dispatch(self, topic: str, items: list[Any]) -> None:
        """Hand one published message's events to this process's listeners."""
        listeners = self._listeners[topic]
        everything = listeners.get(None, set())
        for item in items:
            event: Event
            key: int | str
            if topic == INVENTORY:
                event = InventoryChange(product_id=int(item[0]), delta=int(item[1]))
                key = event.product_id
            else:
                event = OrderStatusChange(order_id=str(item))
                key = event.order_id
            for listener in (*listeners.get(key, ()), *everything):
                listener.offer(event)

    # -------------------------------------------------------------- listening

    def listen(self, topic: str, keys: Iterable[int | str] | None = None) -> Listener:
        """A listener of `topic` for `keys` (None: all); `EventsUnavailable` while the
        broker cannot deliver. Close it (`Listener.close`) when done."""
        self.check_available()
        wanted = None if keys is None else frozenset(keys)
        listener = Listener(self, topic, wanted, self.queue_size)
        for key in (None,) if wanted is None else wanted:
            self._listeners[topic].setdefault(key, set()).add(listener)
        ACTIVE.inc()
        return listener

    def check_available(self) -> None:
        """Raise `EventsUnavailable` when events cannot be delivered now."""

    def remove(self, listener: Listener) -> None:
        registered = self._listeners[listener.topic]
        removed = False
        for key in (None,) if listener.keys is None else listener.keys:
            group = registered.get(key)
            if group is not None and listener in group:
                group.discard(listener)
                removed = True
                if not group:
                    del registered[key]
        if removed:
            ACTIVE.dec()

    def fail_all(self, failure: Exception) -> None:
        listeners = {
            listener
            for by_key in self._listeners.values()
            for group in by_key.values()
            for listener in group
        }
        for listener in listeners:
            listener.fail(failure)
        if listeners and isinstance(failure, EventsUnavailable):
            DROPPED.labels("unavailable").inc(len(listeners))

    @property
    def listener_count(self) -> int:
        return len(
            {
                listener
                for by_key in self._listeners.values()
                for group in by_key.values()
                for listener in group
            }
        )


class RedisBroker(Broker):
    """Events through Redis pub/sub, so every instance's listeners hear every event."""

    def __init__(self, url: str, *, queue_size: int = 100, timeout: float = 2.0) -> None:
        super().__init__(queue_size=queue_size)
        import redis.asyncio as redis

        self._redis = redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._timeout = timeout
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._publish_failing = False

    @property
    def crosses_processes(self) -> bool:
        return True

    async def start(self) -> None:
        """Start the reader; returns at once (Redis may be down now and come later)."""
        self._reader = asyncio.create_task(self._read_forever(), name="storefront-events")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await super().close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout):
                await self._redis.aclose()

    def check_available(self) -> None:
        if not self._connected.is_set():
            raise EventsUnavailable("live events are unavailable (Redis cannot be reached)")

    async def _publish(self, topic: str, items: list[Any]) -> None:
        if not self._connected.is_set():
            # Known down: fail at once rather than make the mutation wait for a timeout.
            self._publish_failed(topic, None)
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.publish(CHANNEL_PREFIX + topic, orjson.dumps(items))
        except Exception as error:
            self._publish_failed(topic, error)
            return
        PUBLISHED.labels(topic, "ok").inc()
        if self._publish_failing:
            self._publish_failing = False
            logger.warning("events: publishing to Redis works again")

    def _publish_failed(self, topic: str, error: Exception | None) -> None:
        PUBLISHED.labels(topic, "failed").inc()
        if not self._publish_failing:
            self._publish_failing = True
            logger.error(
                "events: cannot publish to Redis (%s); events are lost until it is back",
                error or "not connected",
            )

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._connected.is_set():
                    logger.error("events: lost the Redis pub/sub connection (%s)", error)
                else:
                    logger.debug("events: Redis pub/sub not connected (%s)", error)
            if self._connected.is_set():
                self._connected.clear()
                self.fail_all(EventsUnavailable("the connection to Redis was lost"))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _read(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            async with asyncio.timeout(self._timeout):
                await pubsub.subscribe(*(CHANNEL_PREFIX + topic for topic in TOPICS))
            self._connected.set()
            logger.info("events: listening to Redis pub/sub")
            heard = time.monotonic()
            pinged = heard
            while True:
                message = await pubsub.get_message(timeout=min(1.0, self._timeout))
                now = time.monotonic()
                if message is not None:
                    heard = now
                    if message["type"] == "message":
                        self._received(message["channel"], message["data"])
                if now - pinged >= self._timeout:
                    # A silent network swallows packets without an error: ping, and give
                    # up on a connection that has not answered within two intervals.
                    async with asyncio.timeout(self._timeout):
                        await pubsub.ping()
                    pinged = now
                if now - heard > 2 * self._timeout + 1:
                    raise ConnectionError("no answer from Redis to pings")
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._timeout):
                    await pubsub.aclose()

    def _received(self, channel: bytes, data: bytes) -> None:
        topic = channel.decode().removeprefix(CHANNEL_PREFIX)
        if topic not in self._listeners:
            return
        try:
            items = orjson.loads(data)
        except orjson.JSONDecodeError:
            logger.warning("events: ignored a malformed message on %s", channel)
            return
        try:
            self.dispatch(topic, items)
        except (TypeError, ValueError, IndexError):
            logger.warning("events: ignored a malformed message on %s", channel)


def make_broker(redis_url: str | None, *, queue_size: int, timeout: float) -> Broker:
    """The broker for these settings: Redis pub/sub when `redis_url` is set."""
    if redis_url:
        return RedisBroker(redis_url, queue_size=queue_size, timeout=timeout)
    return Broker(queue_size=queue_size)

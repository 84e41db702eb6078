"""The event broker: what changed, told to whoever listens, after the change committed.

Resolvers publish (`Broker.publish_inventory`, `Broker.publish_order_status`) once their
transaction has committed; subscriptions listen (`Broker.listen`). In one process the
broker fans events out in memory; with Redis (`REDIS_URL`) every process publishes to
Redis and keeps one pub/sub connection that receives every instance's events, which it
fans out to its own listeners. See `events.broker`.
"""

from events.broker import (
    INVENTORY,
    ORDERS,
    Broker,
    EventsUnavailable,
    InventoryChange,
    Listener,
    OrderStatusChange,
    SlowConsumer,
    make_broker,
)

__all__ = [
    "INVENTORY",
    "ORDERS",
    "Broker",
    "EventsUnavailable",
    "InventoryChange",
    "Listener",
    "OrderStatusChange",
    "SlowConsumer",
    "make_broker",
]

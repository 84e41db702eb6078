"""Subscriptions: `orderStatusChanged` and `inventoryChanged`, over the event broker.

A subscription checks who may follow what when it starts (refused with an `error`
message naming the code, as a query would be), then listens on the broker
(`events.Broker.listen`) and turns each event into the payload its selection asks for.

Fan-out costs statements per event, not per subscriber: the broker hands one event
object to every listener of the process, and every subscriber resolves it through one
DataLoader registry made for that event (`_loaders_of`). The first subscriber's load of
the product (or order) and of each relation below it is the only statement; the others
find the rows cached. Permissions still apply per subscriber: the rows are shared, the
checks run against each subscriber's own viewer (prefetch's batch functions ask the
context for the viewer, and `_EventContext` answers with the subscriber's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import Selection

from auth.resource import Viewer
from events import (
    INVENTORY,
    ORDERS,
    Broker,
    EventsUnavailable,
    InventoryChange,
    Listener,
    OrderStatusChange,
    SlowConsumer,
)
from loaders import Loaders
from resolvers import orders
from resolvers.errors import BadUserInput, ServiceUnavailable
from schema.catalog import Product
from schema.context import SchemaContext, SchemaSettings, page_limits
from schema.orders import Order, order_key
from schema.permissions import viewer_of
from schema.prefetch import prefetch
from schema.relay import id_of

T = TypeVar("T")

# The WebSocket close code for a subscriber that cannot keep up (see README).
SLOW_CONSUMER_CLOSE = 4008

_loaders_of: WeakKeyDictionary[InventoryChange | OrderStatusChange, Loaders] = WeakKeyDictionary()


class SubscriptionContext(SchemaContext, Protocol):
    broker: Broker

    async def end_connection(self, code: int, reason: str) -> None: ...


@strawberry.type(
    description="A product's stock moved: an order, a cancellation or expiry, or staff."
)
class InventoryEvent:
    product: Product = strawberry.field(description="The product, as it is now.")
    stock: int = strawberry.field(description="Units in stock now.")
    delta: int = strawberry.field(description="Units this change added (negative: taken).")


@dataclass(eq=False)
class _EventContext:
    """One subscriber's context for one event: the event's shared loaders, the
    subscriber's own viewer."""

    loaders: Loaders
    connection: SubscriptionContext

    @property
    def request_id(self) -> str:
        return self.connection.request_id

    @property
    def settings(self) -> SchemaSettings:
        return self.connection.settings

    async def viewer(self) -> Viewer | None:
        return await self.connection.viewer()


def _shared_loaders(event: InventoryChange | OrderStatusChange) -> Loaders:
    loaders = _loaders_of.get(event)
    if loaders is None:
        loaders = _loaders_of[event] = Loaders()
    return loaders


Render = Callable[[Any, _EventContext], Awaitable[T | None]]


class _Stream(AsyncIterator[T]):
    """A subscription's payloads: each event of `listener` rendered for this subscriber.

    A class rather than an async generator, so that closing it before the first event
    (the client left at once) still releases the listener.
    """

    def __init__(self, info: Info, listener: Listener, render: Render[T]) -> None:
        self._connection: SubscriptionContext = info.context
        self._selections: list[Selection] = info.selected_fields[0].selections
        self._listener = listener
        self._render = render

    def __aiter__(self) -> _Stream[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            try:
                event = await self._listener.__anext__()
            except SlowConsumer as error:
                await self._connection.end_connection(SLOW_CONSUMER_CLOSE, f"Too slow: {error}")
                raise StopAsyncIteration from None
            except EventsUnavailable as error:
                raise ServiceUnavailable(f"Live events stopped: {error}; subscribe again") from None
            context = _EventContext(_shared_loaders(event), self._connection)
            payload = await self._render(event, context)
            if payload is not None:
                await prefetch(context, [payload], self._selections)
                # A field that loads for itself (none should: prefetch loads what the
                # selection asks) reads afresh, not what the connection cached earlier.
                # Not the event's loaders: the end of an operation clears its context's.
                self._connection.loaders = Loaders()
                return payload

    async def aclose(self) -> None:
        self._listener.close()


def _listen(info: Info, topic: str, keys: list[int] | list[str] | None) -> Listener:
    try:
        listener: Listener = info.context.broker.listen(topic, keys)
        return listener
    except EventsUnavailable as error:
        raise ServiceUnavailable(f"Live events are unavailable: {error}") from None


async def _order_payload(event: OrderStatusChange, context: _EventContext) -> Order | None:
    row = await context.loaders.order_by_public_id.load(event.order_id)
    if row is None:
        return None
    # Checked on every event: the viewer is re-validated while the connection lasts.
    orders.authorize_read(await context.viewer(), row.customer_id)
    return Order.from_model(row)


async def _inventory_payload(
    event: InventoryChange, context: _EventContext
) -> InventoryEvent | None:
    row = await context.loaders.product_by_id.load(event.product_id)
    if row is None:
        return None  # deleted since: there is no product left to show
    return InventoryEvent(product=Product.from_model(row), stock=row.stock, delta=event.delta)


@strawberry.type(
    description="Live events, over WebSocket at `/graphql` (graphql-transport-ws; the bearer "
    "token goes in `connectionParams.Authorization`). A subscription that cannot start "
    "ends with an `error` message carrying the code (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, "
    "BAD_USER_INPUT, QUERY_TOO_COMPLEX, RATE_LIMITED beyond MAX_SUBSCRIPTIONS_PER_CONNECTION). "
    "When live events stop (Redis unreachable) it ends with SERVICE_UNAVAILABLE: subscribe "
    "again. A subscriber more than SUBSCRIPTION_QUEUE_SIZE events behind is disconnected "
    "(close 4008); one whose token expires or is revoked too (close 4403)."
)
class Subscription:
    @strawberry.subscription(
        description="The order each time its status changes: its customer's (scope "
        "`orders:read`) or staff's (`orders:manage`). An order that does not exist or is "
        "not yours: NOT_FOUND."
    )
    async def order_status_changed(
        self,
        info: Info,
        order_id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The order's global ID, `Order.id` (malformed, or another "
                "type's: BAD_USER_INPUT)."
            ),
        ],
    ) -> AsyncIterator[Order]:
        public_id = order_key(order_id, "orderId")
        await orders.followable_order(await viewer_of(info), info.context.loaders, public_id)
        return _Stream(info, _listen(info, ORDERS, [public_id]), _order_payload)

    @strawberry.subscription(
        description="Each change of a product's stock, for these products (all products "
        "when `productIds` is absent). Public. A deleted product's events stop."
    )
    async def inventory_changed(
        self,
        info: Info,
        product_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(
                description="Global IDs of the products to follow, at most MAX_PAGE_SIZE "
                "(100 by default); malformed, another type's, or too many: BAD_USER_INPUT."
            ),
        ] = None,
    ) -> AsyncIterator[InventoryEvent]:
        keys = None
        if product_ids is not None:
            maximum = page_limits(info.context).max_size
            if len(product_ids) > maximum:
                raise BadUserInput(
                    f"`productIds` may hold at most {maximum} IDs, got {len(product_ids)}"
                )
            keys = [
                id_of(product_id, "Product", f"productIds[{index}]")
                for index, product_id in enumerate(product_ids)
            ]
        return _Stream(info, _listen(info, INVENTORY, keys), _inventory_payload)

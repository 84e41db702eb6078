"""GraphQL types of orders: `Order`, `OrderItem`, `OrderStatus`; the `orders` and `order`
queries, `User.orders`, and the `placeOrder`, `cancelOrder`, `updateOrderStatus` mutations.

Orders are private: their customer (scope `orders:read`) and staff (`orders:manage`) may
read them, through every door (`order`, `orders`, `node`, `nodes`, `User.orders`); to
anyone else an order answers as a missing one. The rules are in `resolvers.orders`.
Global IDs of orders carry their random public id, never the database id.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from models.orders import CancelReason, OrderStatus
from models.orders import Order as OrderModel
from models.orders import OrderItem as OrderItemModel
from resolvers import orders
from resolvers.errors import BadUserInput, Forbidden
from resolvers.money import from_minor
from resolvers.pagination import PageArgs
from schema.accounts import User, users_by_pk
from schema.catalog import Money, Product, products_by_pk
from schema.context import SchemaContext, page_limits
from schema.nodes import register_node
from schema.payloads import UserError, mutation_payload
from schema.permissions import require_scope, require_staff_scope, viewer_of
from schema.prefetch import (
    NOT_LOADED,
    prefetched_connection,
    prefetched_object,
    relation,
    selects,
)
from schema.relay import Connection, Node, id_of, key_of, parent_connections, to_global_id

strawberry.enum(
    OrderStatus,
    description="Where an order is: PENDING → PAID → SHIPPED → DELIVERED, or CANCELLED.",
)
strawberry.enum(
    CancelReason,
    description="Who or what cancelled an order: its customer, staff, or the end of its "
    "hold on stock while unpaid (EXPIRED).",
)


def public_id(key: str, global_id: str) -> str:
    """An order's public id from its global ID's key, or BAD_USER_INPUT."""
    if not orders.PUBLIC_ID.fullmatch(key):
        raise BadUserInput(f"Invalid ID: {global_id[:64]!r}")
    return key


def order_key(global_id: str, argument: str) -> str:
    return key_of(global_id, "Order", argument, public_id)


@strawberry.type(description="One line of an order, at the price it was placed at.")
class OrderItem:
    quantity: int
    unit_price: Money = strawberry.field(description="The price when the order was placed.")
    line_total: Money = strawberry.field(description="Unit price times quantity.")
    product_pk: strawberry.Private[int | None]
    product: Product | None = strawberry.field(
        default=NOT_LOADED, description="Null when the product was deleted since."
    )

    @classmethod
    def from_model(cls, item: OrderItemModel, currency: str) -> OrderItem:
        return cls(
            quantity=item.quantity,
            unit_price=Money(amount=from_minor(item.unit_price_minor), currency=currency),
            line_total=Money(
                amount=from_minor(item.unit_price_minor * item.quantity), currency=currency
            ),
            product_pk=item.product_id,
        )


@strawberry.type(description="A customer's order; visible to its customer and to staff only.")
class Order(Node):
    id: strawberry.ID
    number: str = strawberry.field(description="What the customer quotes, e.g. SF-7K2M9QX4TA.")
    status: OrderStatus
    cancel_reason: CancelReason | None = strawberry.field(
        description="Why the order was cancelled; null unless CANCELLED."
    )
    hold_expires_at: datetime | None = strawberry.field(
        description="While PENDING: when the order stops holding its stock. Unpaid by then, "
        "it is cancelled (cancelReason EXPIRED) and its items go back into stock. Null in "
        "every other status."
    )
    total: Money
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    customer_pk: strawberry.Private[int]
    currency: strawberry.Private[str]
    items: list[OrderItem] = NOT_LOADED
    customer: User | None = NOT_LOADED

    @classmethod
    def from_model(cls, order: OrderModel) -> Order:
        return cls(
            id=to_global_id("Order", order.public_id),
            number=order.number,
            status=order.status,
            cancel_reason=order.cancel_reason,
            hold_expires_at=order.hold_expires_at,
            total=Money(amount=from_minor(order.total_minor), currency=order.currency),
            created_at=order.created_at,
            updated_at=order.updated_at,
            pk=order.id,
            customer_pk=order.customer_id,
            currency=order.currency,
        )


async def _items(
    context: SchemaContext, parents: list[Order], _: PageArgs | None
) -> list[list[OrderItem]]:
    rows = await context.loaders.items_by_order.load_many([order.pk for order in parents])
    return [
        [OrderItem.from_model(item, order.currency) for item in items]
        for order, items in zip(parents, rows, strict=True)
    ]


async def _customers(
    context: SchemaContext, parents: list[Order], _: PageArgs | None
) -> list[User | None]:
    return await users_by_pk(context, [order.customer_pk for order in parents])


async def _products(
    context: SchemaContext, items: list[OrderItem], _: PageArgs | None
) -> list[Product | None]:
    return await products_by_pk(context, [item.product_pk for item in items])


async def _user_orders(
    context: SchemaContext, users: list[User], args: PageArgs | None
) -> list[Connection[Order]]:
    """`User.orders` for many users; FORBIDDEN (for the whole batch) unless the caller may
    read each one's orders. Prefetching then leaves the field to each user's own resolver,
    which loads the permitted ones and reports the others at their own path."""
    viewer = await context.viewer()
    for user in users:
        orders.authorize_read(viewer, user.pk)
    loaders = context.loaders
    return await parent_connections(
        context,
        orders.ORDERS,
        loaders.orders_by_customer,
        [user.pk for user in users],
        args,
        Order.from_model,
        loaders.order_count_by_customer,
    )


async def _guard(context: SchemaContext, row: OrderModel | None) -> OrderModel | None:
    found: OrderModel | None = orders.readable(await context.viewer(), row)
    return found


relation(Order, "items", _items)
relation(Order, "customer", _customers)
relation(OrderItem, "product", _products)
relation(User, "orders", _user_orders, paged=True)
register_node(
    "Order",
    lambda loaders: loaders.order_by_public_id,
    Order.from_model,
    guard=_guard,
    key=public_id,
)


@strawberry.type
class OrdersQuery:
    @strawberry.field(
        description="Your orders (scope `orders:read`), or every order for staff "
        "(`orders:manage`); newest first."
    )
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        status: OrderStatus | None = None,
    ) -> Connection[Order]:
        page = await orders.list_orders(
            await viewer_of(info),
            status,
            PageArgs(first=first, after=after, last=last, before=before),
            page_limits(info.context),
            with_total=selects(info, "totalCount"),
        )
        return await prefetched_connection(info, page, Order.from_model)

    @strawberry.field(description="One order: its customer's (`orders:read`) or staff's.")
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        row = await orders.find_order(
            await viewer_of(info), info.context.loaders, order_key(id, "id")
        )
        return await prefetched_object(info, row, Order.from_model)


@strawberry.input(description="One product and how many of it.")
class OrderLineInput:
    product_id: strawberry.ID
    quantity: int = strawberry.field(description=f"1 to {orders.MAX_QUANTITY}.")


@strawberry.input(description="What to order. Each product appears in one item at most.")
class PlaceOrderInput:
    items: list[OrderLineInput] = strawberry.field(description=f"1 to {orders.MAX_LINES} items.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Up to 128 characters of your choosing: placing an order again with a "
        "key you used before returns that first order instead of placing another.",
    )


@strawberry.input
class CancelOrderInput:
    id: strawberry.ID


@strawberry.input
class UpdateOrderStatusInput:
    id: strawberry.ID
    status: OrderStatus


@strawberry.type
class PlaceOrderPayload:
    order: Order | None
    user_errors: list[UserError]


@strawberry.type
class CancelOrderPayload:
    order: Order | None
    user_errors: list[UserError]


@strawberry.type
class UpdateOrderStatusPayload:
    order: Order | None
    user_errors: list[UserError]


def _order_fields(row: OrderModel) -> dict[str, Order]:
    return {"order": Order.from_model(row)}


def _lines(items: list[OrderLineInput]) -> list[orders.OrderLine]:
    return [
        orders.OrderLine(
            product_id=id_of(item.product_id, "Product", f"input.items[{index}].productId"),
            quantity=item.quantity,
        )
        for index, item in enumerate(items)
    ]


def _checkout_rules(context: SchemaContext) -> orders.CheckoutRules:
    settings = context.settings
    return orders.CheckoutRules(
        currency=settings.currency,
        hold_seconds=settings.order_hold_seconds,
        max_units_held=settings.max_units_held_per_customer,
    )


@strawberry.type
class OrdersMutation:
    @strawberry.mutation(
        description="Order products, all or nothing: stock is taken for every item or for "
        "none, and held while the order is PENDING (see `Order.holdExpiresAt`). The units "
        "one customer may hold in unpaid orders together are limited (`LIMIT_EXCEEDED`). "
        "Scope `orders:write`."
    )
    async def place_order(self, info: Info, input: PlaceOrderInput) -> PlaceOrderPayload:
        viewer = await require_scope(info, orders.WRITE_SCOPE)
        if viewer.user_id is None:
            raise Forbidden("Only a signed-in customer can place an order")
        return await mutation_payload(
            info,
            PlaceOrderPayload,
            orders.place_order(
                viewer.user_id,
                _lines(input.items),
                input.idempotency_key,
                _checkout_rules(info.context),
                info.context.broker,
            ),
            _order_fields,
        )

    @strawberry.mutation(
        description="Cancel your order while it is PENDING or PAID; its items go back into "
        "stock. Scope `orders:write`."
    )
    async def cancel_order(self, info: Info, input: CancelOrderInput) -> CancelOrderPayload:
        viewer = await require_scope(info, orders.WRITE_SCOPE)
        return await mutation_payload(
            info,
            CancelOrderPayload,
            orders.cancel_order(viewer, order_key(input.id, "input.id"), info.context.broker),
            _order_fields,
        )

    @strawberry.mutation(
        description="Staff: move an order forward (PENDING → PAID → SHIPPED → DELIVERED; "
        "skipping ahead is allowed), or cancel it while PENDING or PAID, which returns its "
        "items to stock. Scope `orders:manage`."
    )
    async def update_order_status(
        self, info: Info, input: UpdateOrderStatusInput
    ) -> UpdateOrderStatusPayload:
        await require_staff_scope(info, orders.MANAGE_SCOPE)
        return await mutation_payload(
            info,
            UpdateOrderStatusPayload,
            orders.update_order_status(
                order_key(input.id, "input.id"), input.status, info.context.broker
            ),
            _order_fields,
        )

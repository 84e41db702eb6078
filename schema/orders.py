"""GraphQL types of orders: `Order`, `OrderItem`, `OrderStatus`; the `orders` and `order`
queries, and the `placeOrder`, `cancelOrder`, `updateOrderStatus` mutations (`User.orders`
is declared with `User`, in `schema.accounts`).

Orders are private: their customer (scope `orders:read`) and staff (`orders:manage`) may
read them, through every door (`order`, `orders`, `node`, `nodes`, `User.orders`); to
anyone else an order answers as a missing one. The rules are in `resolvers.orders`.
Global IDs of orders carry their random public id, never the database id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from auth.scopes import Scope
from models.orders import CancelReason, OrderStatus
from models.orders import Order as OrderModel
from models.orders import OrderItem as OrderItemModel
from resolvers import orders
from resolvers.errors import BadUserInput
from resolvers.money import from_minor
from resolvers.pagination import PageArgs
from schema.accounts import User, users_by_pk
from schema.catalog import PRODUCT_ID_INPUT, Money, Product, products_by_pk
from schema.context import SchemaContext, page_limits
from schema.enums import described_enum
from schema.nodes import register_node
from schema.payloads import USER_ERRORS, UserError, mutation_payload
from schema.permissions import require_scope, require_staff_scope, require_user, viewer_of
from schema.prefetch import prefetched_connection, prefetched_object, selects
from schema.relations import relation
from schema.relay import After, Before, Connection, First, Last, Node, id_of, key_of, to_global_id

described_enum(
    OrderStatus,
    "Where an order is: PENDING → PAID → SHIPPED → DELIVERED, or CANCELLED.",
    {
        "PENDING": "Placed, not paid: holds its stock until `holdExpiresAt`, then expires "
        "(CANCELLED, reason EXPIRED).",
        "PAID": "Paid, not shipped yet.",
        "SHIPPED": "On its way.",
        "DELIVERED": "Arrived. Final.",
        "CANCELLED": "Cancelled (see `cancelReason`); its items went back into stock. Final.",
    },
)
described_enum(
    CancelReason,
    "Who or what cancelled an order: its customer, staff, or the end of its hold on stock "
    "while unpaid (EXPIRED).",
    {
        "CUSTOMER": "Its customer, with `cancelOrder`.",
        "STAFF": "Staff, with `cancelOrder` or `updateOrderStatus`.",
        "EXPIRED": "Still unpaid when its hold ended (`holdExpiresAt`).",
    },
)


def public_id(key: str, global_id: str) -> str:
    """An order's public id from its global ID's key, or BAD_USER_INPUT."""
    if not orders.PUBLIC_ID.fullmatch(key):
        raise BadUserInput(f"Invalid ID: {global_id[:64]!r}")
    return key


def order_key(global_id: str, argument: str) -> str:
    return key_of(global_id, "Order", argument, public_id)


async def _products(context: SchemaContext, items: list[OrderItem]) -> list[Product | None]:
    return await products_by_pk(context, [item.product_pk for item in items])


async def _items(context: SchemaContext, parents: list[Order]) -> list[list[OrderItem]]:
    rows = await context.loaders.items_by_order.load_many([order.pk for order in parents])
    return [
        [OrderItem.from_model(item, order.currency) for item in items]
        for order, items in zip(parents, rows, strict=True)
    ]


async def _customers(context: SchemaContext, parents: list[Order]) -> list[User | None]:
    return await users_by_pk(context, [order.customer_pk for order in parents])


@strawberry.type(description="One line of an order, at the price it was placed at.")
class OrderItem:
    quantity: int = strawberry.field(description=f"Units ordered, 1 to {orders.MAX_QUANTITY}.")
    unit_price: Money = strawberry.field(description="The price when the order was placed.")
    line_total: Money = strawberry.field(description="Unit price times quantity.")
    product_pk: strawberry.Private[int | None]
    prefetched: strawberry.Private[dict[Any, Any]]
    product: Product | None = relation(
        _products, description="Null when the product was deleted since."
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
            prefetched={},
        )


@strawberry.type(
    description="A customer's order; visible to its customer (scope `orders:read`) and to "
    "staff (`orders:manage`) only. To anyone else it answers exactly as a missing order."
)
class Order(Node):
    number: str = strawberry.field(
        description="What the customer quotes, e.g. SF-7K2M9QX4TA: unique, not sequential."
    )
    status: OrderStatus = strawberry.field(description="Where the order is now.")
    cancel_reason: CancelReason | None = strawberry.field(
        description="Why the order was cancelled; null unless CANCELLED."
    )
    hold_expires_at: datetime | None = strawberry.field(
        description="While PENDING: when the order stops holding its stock. Unpaid by then, "
        "it is cancelled (cancelReason EXPIRED) and its items go back into stock. Null in "
        "every other status."
    )
    total: Money = strawberry.field(description="What the order costs: the sum of its line totals.")
    created_at: datetime = strawberry.field(description="When it was placed.")
    updated_at: datetime = strawberry.field(
        description="When its status last changed; when it was placed if never."
    )
    pk: strawberry.Private[int]
    customer_pk: strawberry.Private[int]
    currency: strawberry.Private[str]
    prefetched: strawberry.Private[dict[Any, Any]]
    items: list[OrderItem] = relation(
        _items, description="Its lines, in the order they were placed."
    )
    customer: User | None = relation(_customers, description="Who placed it.")

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
            prefetched={},
        )


async def _guard(context: SchemaContext, row: OrderModel | None) -> OrderModel | None:
    found: OrderModel | None = orders.readable(await context.viewer(), row)
    return found


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
        "(`orders:manage`); newest first, a page at a time. UNAUTHENTICATED without a "
        "token; FORBIDDEN without either scope (a client's own token needs `orders:manage`); "
        "BAD_USER_INPUT for bad page arguments."
    )
    async def orders(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        status: Annotated[
            OrderStatus | None,
            strawberry.argument(description="Only orders in this status; all when absent."),
        ] = None,
    ) -> Connection[Order]:
        page = await orders.list_orders(
            await viewer_of(info),
            status,
            PageArgs(first=first, after=after, last=last, before=before),
            page_limits(info.context),
            with_total=selects(info, "totalCount"),
        )
        return await prefetched_connection(info, page, Order.from_model)

    @strawberry.field(
        description="One order: its customer's (scope `orders:read`) or staff's "
        "(`orders:manage`). Null when it does not exist or is someone else's: the two look "
        "alike. UNAUTHENTICATED without a token; FORBIDDEN without either scope."
    )
    async def order(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(
                description="The order's global ID, `Order.id` (not its number; malformed, "
                "or another type's: BAD_USER_INPUT)."
            ),
        ],
    ) -> Order | None:
        row = await orders.find_order(
            await viewer_of(info), info.context.loaders, order_key(id, "id")
        )
        return await prefetched_object(info, row, Order.from_model)


@strawberry.input(description="One product and how many of it.")
class OrderLineInput:
    product_id: strawberry.ID = strawberry.field(description=PRODUCT_ID_INPUT)
    quantity: int = strawberry.field(
        description=f"1 to {orders.MAX_QUANTITY} (OUT_OF_RANGE); more than in stock: OUT_OF_STOCK."
    )


@strawberry.input(description="What to order. Each product appears in one item at most.")
class PlaceOrderInput:
    items: list[OrderLineInput] = strawberry.field(
        description=f"1 to {orders.MAX_LINES} items (REQUIRED, OUT_OF_RANGE), one per "
        "product (DUPLICATE_PRODUCT)."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=f"Up to {orders.MAX_KEY_LENGTH} characters of your choosing (TOO_LONG): "
        "placing an order again with a key you used before returns that first order "
        "instead of placing another.",
    )


# The `id` of `cancelOrder` and `updateOrderStatus`.
_ORDER_ID_INPUT = (
    "The order's global ID (NOT_FOUND in `userErrors` when there is none, or it is not "
    "yours to change; malformed, or another type's: BAD_USER_INPUT)."
)


@strawberry.input(description="Which order to cancel.")
class CancelOrderInput:
    id: strawberry.ID = strawberry.field(description=_ORDER_ID_INPUT)


@strawberry.input(description="Which order, and its new status.")
class UpdateOrderStatusInput:
    id: strawberry.ID = strawberry.field(description=_ORDER_ID_INPUT)
    status: OrderStatus = strawberry.field(
        description="A later status, or CANCELLED while PENDING or PAID "
        "(INVALID_STATUS_TRANSITION otherwise)."
    )


@strawberry.type(description="What `placeOrder` returns.")
class PlaceOrderPayload:
    order: Order | None = strawberry.field(
        description="The order placed (for an `idempotencyKey` used before, the first order "
        "placed with it); null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="What `cancelOrder` returns.")
class CancelOrderPayload:
    order: Order | None = strawberry.field(
        description="The order, now CANCELLED; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="What `updateOrderStatus` returns.")
class UpdateOrderStatusPayload:
    order: Order | None = strawberry.field(
        description="The order in its new status; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


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
        "Scope `orders:write`, with a signed-in customer's token (a client's own token: "
        "FORBIDDEN)."
    )
    async def place_order(
        self,
        info: Info,
        input: Annotated[PlaceOrderInput, strawberry.argument(description="What to order.")],
    ) -> PlaceOrderPayload:
        user_id = await require_user(
            info, Scope.ORDERS_WRITE, "Only a signed-in customer can place an order"
        )
        return await mutation_payload(
            info,
            PlaceOrderPayload,
            orders.place_order(
                user_id,
                _lines(input.items),
                input.idempotency_key,
                _checkout_rules(info.context),
                info.context.broker,
            ),
            _order_fields,
        )

    @strawberry.mutation(
        description="Cancel your order while it is PENDING or PAID; its items go back into "
        "stock. Scope `orders:write` (staff holding `orders:manage` too may cancel any "
        "order)."
    )
    async def cancel_order(
        self,
        info: Info,
        input: Annotated[CancelOrderInput, strawberry.argument(description="Which order.")],
    ) -> CancelOrderPayload:
        viewer = await require_scope(info, Scope.ORDERS_WRITE)
        return await mutation_payload(
            info,
            CancelOrderPayload,
            orders.cancel_order(viewer, order_key(input.id, "input.id"), info.context.broker),
            _order_fields,
        )

    @strawberry.mutation(
        description="Staff: move an order forward (PENDING → PAID → SHIPPED → DELIVERED; "
        "skipping ahead is allowed), or cancel it while PENDING or PAID, which returns its "
        "items to stock. Scope `orders:manage`, staff only (FORBIDDEN otherwise)."
    )
    async def update_order_status(
        self,
        info: Info,
        input: Annotated[
            UpdateOrderStatusInput,
            strawberry.argument(description="Which order, and its new status."),
        ],
    ) -> UpdateOrderStatusPayload:
        await require_staff_scope(info, Scope.ORDERS_MANAGE)
        return await mutation_payload(
            info,
            UpdateOrderStatusPayload,
            orders.update_order_status(
                order_key(input.id, "input.id"), input.status, info.context.broker
            ),
            _order_fields,
        )

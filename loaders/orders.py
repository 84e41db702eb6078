"""Batch functions for orders and their items."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.functions import Count

from loaders.pagination import Order as ListOrder
from loaders.pagination import Slice, Window, load_windows
from models.orders import Order, OrderItem

# Newest first; ids grow with time, so the id alone is a stable order, indexed with the
# customer (`order_customer_id_idx`).
ORDERS_OF_CUSTOMER = ListOrder(columns=("id",), descending=True)


async def load_orders(ids: Sequence[int]) -> list[Order | None]:
    orders = {order.id: order for order in await Order.filter(id__in=ids)}
    return [orders.get(id_) for id_ in ids]


async def load_items(order_ids: Sequence[int]) -> list[list[OrderItem]]:
    """Each order's items, in the order they were placed."""
    items: dict[int, list[OrderItem]] = {order_id: [] for order_id in order_ids}
    for item in await OrderItem.filter(order_id__in=order_ids).order_by("id"):
        items[item.order_id].append(item)
    return [items[order_id] for order_id in order_ids]


async def load_order_pages(keys: Sequence[tuple[int, Window]]) -> list[Slice]:
    """Keys are (customer id, window): a page of each customer's orders."""
    return await load_windows(Order, "customer_id", ORDERS_OF_CUSTOMER, keys)


async def load_order_counts(customer_ids: Sequence[int]) -> list[int]:
    rows = (
        await Order.filter(customer_id__in=customer_ids)
        .annotate(count=Count("id"))
        .group_by("customer_id")
        .values_list("customer_id", "count")
    )
    counts = dict(rows)
    return [counts.get(customer, 0) for customer in customer_ids]

"""Batch functions for orders and their items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.pagination import Order as ListOrder
from loaders.pagination import Slice, Window, load_windows
from loaders.rows import all_per_key, count_per_key, one_per_key
from loaders.select import select_in
from models.orders import Order, OrderItem

# Newest first; ids grow with time, so the id alone is a stable order, indexed with the
# customer (`order_customer_id_idx`).
ORDERS_OF_CUSTOMER = ListOrder(columns=("id",), descending=True)


async def load_orders(public_ids: Sequence[str]) -> list[Any]:
    """Orders by public id (the one in their global IDs)."""
    return one_per_key(await select_in(Order, "public_id", public_ids), "public_id", public_ids)


async def load_items(order_ids: Sequence[int]) -> list[list[Any]]:
    """Each order's items, in the order they were placed."""
    items = await select_in(OrderItem, "order_id", order_ids, order_by=("id",))
    return all_per_key(items, "order_id", order_ids)


async def load_order_pages(keys: Sequence[tuple[int, Window]]) -> list[Slice]:
    """Keys are (customer id, window): a page of each customer's orders."""
    return await load_windows(Order, "customer_id", ORDERS_OF_CUSTOMER, keys)


async def load_order_counts(customer_ids: Sequence[int]) -> list[int]:
    return await count_per_key(Order, "customer_id", customer_ids)

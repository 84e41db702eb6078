"""Batch functions for orders and their items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.rows import all_per_key, one_per_key
from loaders.select import select_in
from models.orders import Order, OrderItem


async def load_orders(public_ids: Sequence[str]) -> list[Any]:
    """Orders by public id (the one in their global IDs)."""
    return one_per_key(await select_in(Order, "public_id", public_ids), "public_id", public_ids)


async def load_items(order_ids: Sequence[int]) -> list[list[Any]]:
    """Each order's items, in the order they were placed."""
    items = await select_in(OrderItem, "order_id", order_ids, order_by=("id",))
    return all_per_key(items, "order_id", order_ids)

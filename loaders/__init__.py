"""Per-request DataLoaders: one batch function per relation, created on first use.

A `Loaders` registry lives for one request. Each DataLoader binds to the running event
loop when it is made, so the registry is built inside the request's task.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from loaders import accounts, catalog, orders, reviews


class Loaders:
    def clear(self) -> None:
        """Drop every loader and what it cached (the request is over)."""
        vars(self).clear()

    @cached_property
    def user_by_id(self) -> DataLoader[int, Any]:
        return DataLoader(accounts.load_users)

    @cached_property
    def category_by_id(self) -> DataLoader[int, Any]:
        return DataLoader(catalog.load_categories)

    @cached_property
    def product_by_id(self) -> DataLoader[int, Any]:
        return DataLoader(catalog.load_products)

    @cached_property
    def product_by_sku(self) -> DataLoader[str, Any]:
        return DataLoader(catalog.load_products_by_sku)

    @cached_property
    def children_by_category(self) -> DataLoader[int, Any]:
        return DataLoader(catalog.load_children)

    @cached_property
    def product_count_by_category(self) -> DataLoader[int, int]:
        return DataLoader(catalog.load_product_counts)

    @cached_property
    def products_by_category(self) -> DataLoader[Any, Any]:
        return DataLoader(catalog.load_product_pages)

    @cached_property
    def review_by_id(self) -> DataLoader[int, Any]:
        return DataLoader(reviews.load_reviews)

    @cached_property
    def reviews_by_product(self) -> DataLoader[Any, Any]:
        return DataLoader(reviews.load_review_pages)

    @cached_property
    def order_by_id(self) -> DataLoader[int, Any]:
        return DataLoader(orders.load_orders)

    @cached_property
    def items_by_order(self) -> DataLoader[int, Any]:
        return DataLoader(orders.load_items)

    @cached_property
    def orders_by_customer(self) -> DataLoader[Any, Any]:
        return DataLoader(orders.load_order_pages)

    @cached_property
    def order_count_by_customer(self) -> DataLoader[int, int]:
        return DataLoader(orders.load_order_counts)

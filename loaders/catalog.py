"""Batch functions for categories and products."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.pagination import Order, Slice, Window, load_windows
from loaders.rows import count_per_key, one_per_key
from loaders.select import select_in
from models.catalog import Category, Product

PRODUCTS_IN_CATEGORY = Order(columns=("name", "id"))
CHILDREN_OF_CATEGORY = Order(columns=("name", "id"))


async def load_categories(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(Category, "id", ids), "id", ids)


async def load_products(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(Product, "id", ids), "id", ids)


async def load_products_by_sku(skus: Sequence[str]) -> list[Any]:
    return one_per_key(await select_in(Product, "sku", skus), "sku", skus)


async def load_child_pages(keys: Sequence[tuple[int, Window]]) -> list[Slice]:
    """Keys are (category id, window): a page of each category's subcategories."""
    return await load_windows(Category, "parent_id", CHILDREN_OF_CATEGORY, keys)


async def load_child_counts(category_ids: Sequence[int]) -> list[int]:
    return await count_per_key(Category, "parent_id", category_ids)


async def load_product_counts(category_ids: Sequence[int]) -> list[int]:
    return await count_per_key(Product, "category_id", category_ids)


async def load_product_pages(keys: Sequence[tuple[int, Window]]) -> list[Slice]:
    """Keys are (category id, window): a page of each category's products."""
    return await load_windows(Product, "category_id", PRODUCTS_IN_CATEGORY, keys)

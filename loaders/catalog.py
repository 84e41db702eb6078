"""Batch functions for categories and products."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.rows import one_per_key
from loaders.select import select_in
from models.catalog import Category, Product


async def load_categories(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(Category, "id", ids), "id", ids)


async def load_products(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(Product, "id", ids), "id", ids)


async def load_products_by_sku(skus: Sequence[str]) -> list[Any]:
    return one_per_key(await select_in(Product, "sku", skus), "sku", skus)

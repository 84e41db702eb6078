"""Batch functions for categories and products."""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.functions import Count

from loaders.pagination import Order, Slice, Window, load_windows
from models.catalog import Category, Product

PRODUCTS_IN_CATEGORY = Order(columns=("name", "id"))


async def load_categories(ids: Sequence[int]) -> list[Category | None]:
    categories = {category.id: category for category in await Category.filter(id__in=ids)}
    return [categories.get(id_) for id_ in ids]


async def load_products(ids: Sequence[int]) -> list[Product | None]:
    products = {product.id: product for product in await Product.filter(id__in=ids)}
    return [products.get(id_) for id_ in ids]


async def load_products_by_sku(skus: Sequence[str]) -> list[Product | None]:
    products = {product.sku: product for product in await Product.filter(sku__in=skus)}
    return [products.get(sku) for sku in skus]


async def load_children(parent_ids: Sequence[int]) -> list[list[Category]]:
    children: dict[int, list[Category]] = {parent: [] for parent in parent_ids}
    for category in await Category.filter(parent_id__in=parent_ids).order_by("name", "id"):
        children[category.parent_id or 0].append(category)
    return [children[parent] for parent in parent_ids]


async def load_product_counts(category_ids: Sequence[int]) -> list[int]:
    rows = (
        await Product.filter(category_id__in=category_ids)
        .annotate(count=Count("id"))
        .group_by("category_id")
        .values_list("category_id", "count")
    )
    counts = dict(rows)
    return [counts.get(category, 0) for category in category_ids]


async def load_product_pages(keys: Sequence[tuple[int, Window]]) -> list[Slice]:
    """Keys are (category id, window): a page of each category's products."""
    return await load_windows(Product, "category_id", PRODUCTS_IN_CATEGORY, keys)

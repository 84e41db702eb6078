"""Catalog reads: product listings with filters and orderings, lookups, the category tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from tortoise.expressions import Q

from loaders import Loaders
from loaders.pagination import Window
from models.catalog import Category, Product
from resolvers.errors import BadUserInput
from resolvers.money import to_minor
from resolvers.pagination import Limits, ListOrder, Page, PageArgs, keyset_page


class ProductOrderField(StrEnum):
    NAME = "NAME"
    PRICE = "PRICE"
    CREATED_AT = "CREATED_AT"
    AVERAGE_RATING = "AVERAGE_RATING"


# The column each ordering sorts by and the type its cursors hold; the id breaks ties.
_ORDER_COLUMNS: dict[ProductOrderField, tuple[str, type]] = {
    ProductOrderField.NAME: ("name", str),
    ProductOrderField.PRICE: ("price_minor", int),
    ProductOrderField.CREATED_AT: ("created_at", datetime),
    ProductOrderField.AVERAGE_RATING: ("rating_average", float),
}

CATEGORIES = ListOrder(kind="categories", columns=("name", "id"), types=(str, int))
# Must match loaders.catalog.PRODUCTS_IN_CATEGORY, the order the loader fetches in.
CATEGORY_PRODUCTS = ListOrder(kind="category-products", columns=("name", "id"), types=(str, int))


@dataclass(frozen=True)
class ProductFilter:
    search: str | None = None
    category_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None


@dataclass(frozen=True)
class ProductOrder:
    field: ProductOrderField = ProductOrderField.NAME
    descending: bool = False


def product_list_order(order: ProductOrder) -> ListOrder:
    column, column_type = _ORDER_COLUMNS[order.field]
    return ListOrder(
        kind=f"products:{order.field.value}:{'desc' if order.descending else 'asc'}",
        columns=(column, "id"),
        types=(column_type, int),
        descending=order.descending,
    )


async def list_products(
    product_filter: ProductFilter,
    order: ProductOrder,
    args: PageArgs,
    limits: Limits,
    *,
    with_total: bool,
) -> Page[Product]:
    """A page of the catalog: one statement, plus one to count when asked."""
    matching = Product.filter(await _filter_condition(product_filter))
    return await keyset_page(
        matching, product_list_order(order), args, limits, with_total=with_total
    )


async def _filter_condition(product_filter: ProductFilter) -> Q:
    conditions = Q()
    if product_filter.search:
        term = product_filter.search.strip()
        if len(term) > 200:
            raise BadUserInput("`filter.search` must be at most 200 characters")
        conditions &= (
            Q(name__icontains=term) | Q(sku__icontains=term) | Q(description__icontains=term)
        )
    if product_filter.category_id is not None:
        conditions &= Q(category_id__in=await category_subtree(product_filter.category_id))
    if product_filter.min_price is not None:
        conditions &= Q(price_minor__gte=to_minor(product_filter.min_price, "filter.minPrice"))
    if product_filter.max_price is not None:
        conditions &= Q(price_minor__lte=to_minor(product_filter.max_price, "filter.maxPrice"))
    if product_filter.in_stock is True:
        conditions &= Q(stock__gt=0)
    elif product_filter.in_stock is False:
        conditions &= Q(stock=0)
    return conditions


async def category_subtree(category_id: int) -> list[int]:
    """The category and all its descendants: one statement over the (small) tree."""
    children: dict[int | None, list[int]] = {}
    for id_, parent_id in await Category.all().values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(id_)
    found: list[int] = []
    pending = [category_id]
    while pending:
        current = pending.pop()
        if current not in found:
            found.append(current)
            pending.extend(children.get(current, []))
    return found


async def find_product(
    loaders: Loaders, *, id_: int | None, sku: str | None, slug: str | None
) -> Product | None:
    """Exactly one of id, sku or slug finds a product."""
    if sum(value is not None for value in (id_, sku, slug)) != 1:
        raise BadUserInput("Pass exactly one of `id`, `sku` or `slug`")
    if id_ is not None:
        by_id: Product | None = await loaders.product_by_id.load(id_)
        return by_id
    if sku is not None:
        by_sku: Product | None = await loaders.product_by_sku.load(sku)
        return by_sku
    return await Product.get_or_none(slug=slug)


async def find_category(loaders: Loaders, *, id_: int | None, slug: str | None) -> Category | None:
    """Exactly one of id or slug finds a category."""
    if (id_ is None) == (slug is None):
        raise BadUserInput("Pass exactly one of `id` or `slug`")
    if id_ is not None:
        category: Category | None = await loaders.category_by_id.load(id_)
        return category
    return await Category.get_or_none(slug=slug)


async def list_categories(
    args: PageArgs, limits: Limits, *, roots_only: bool, with_total: bool
) -> Page[Category]:
    """Categories by name; `roots_only` keeps the top of the tree."""
    matching = Category.filter(parent_id=None) if roots_only else Category.all()
    return await keyset_page(matching, CATEGORIES, args, limits, with_total=with_total)


def category_products_window(args: PageArgs, limits: Limits) -> Window:
    return CATEGORY_PRODUCTS.window(args, limits)

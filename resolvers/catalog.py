"""The catalog's rules: product listings with filters and orderings, lookups, the category
tree, and creating, changing and deleting products."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from events import Broker
from loaders import Loaders
from models.catalog import Category, Product
from resolvers.errors import BadUserInput
from resolvers.money import to_minor
from resolvers.pagination import Limits, ListOrder, Page, PageArgs, keyset_page
from resolvers.problems import Problem, ProblemCode, Rejected, check_text, reject
from resolvers.search import Search, search_columns

RANK_KEY = "search_rank"


class ProductOrderField(StrEnum):
    NAME = "NAME"
    PRICE = "PRICE"
    CREATED_AT = "CREATED_AT"
    AVERAGE_RATING = "AVERAGE_RATING"
    RELEVANCE = "RELEVANCE"


# The column each ordering sorts by and the type its cursors hold; the id breaks ties.
_ORDER_COLUMNS: dict[ProductOrderField, tuple[str, type]] = {
    ProductOrderField.NAME: ("name", str),
    ProductOrderField.PRICE: ("price_minor", int),
    ProductOrderField.CREATED_AT: ("created_at", datetime),
    ProductOrderField.AVERAGE_RATING: ("rating_average", float),
    # Computed per query (resolvers.search); ascending is most relevant first.
    ProductOrderField.RELEVANCE: (RANK_KEY, float),
}

CATEGORIES = ListOrder(kind="categories", columns=("name", "id"), types=(str, int))
CATEGORY_PRODUCTS = ListOrder(kind="category-products", columns=("name", "id"), types=(str, int))
CATEGORY_CHILDREN = ListOrder(kind="category-children", columns=("name", "id"), types=(str, int))


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
    dialect = Product._meta.db.capabilities.dialect
    search = Search.parse(_search_term(product_filter.search))
    matching = search.filter(Product.filter(await _filter_condition(product_filter)), dialect)
    computed = None
    if order.field is ProductOrderField.RELEVANCE:
        if not search.words:
            raise BadUserInput("Ordering by RELEVANCE needs words in `filter.search`")
        computed = {RANK_KEY: search.rank_key(dialect)}
    return await keyset_page(
        matching,
        product_list_order(order),
        args,
        limits,
        with_total=with_total,
        computed=computed,
    )


def _search_term(search: str | None) -> str:
    term = (search or "").strip()
    if len(term) > 200:
        raise BadUserInput("`filter.search` must be at most 200 characters")
    return term


async def _filter_condition(product_filter: ProductFilter) -> Q:
    conditions = Q()
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
    _check_key("sku", sku, 64)
    _check_key("slug", slug, 200)
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
    _check_key("slug", slug, 200)
    if id_ is not None:
        category: Category | None = await loaders.category_by_id.load(id_)
        return category
    return await Category.get_or_none(slug=slug)


def _check_key(name: str, value: str | None, max_length: int) -> None:
    """Refuse a lookup value no row can hold (the database would refuse it less kindly)."""
    if value is not None and len(value) > max_length:
        raise BadUserInput(f"`{name}` must be at most {max_length} characters")


async def list_categories(
    args: PageArgs, limits: Limits, *, roots_only: bool, with_total: bool
) -> Page[Category]:
    """Categories by name; `roots_only` keeps the top of the tree."""
    matching = Category.filter(parent_id=None) if roots_only else Category.all()
    return await keyset_page(matching, CATEGORIES, args, limits, with_total=with_total)


SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_STOCK = 1_000_000_000


def slugify(text: str) -> str:
    """A URL slug: lower-case ASCII words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


@dataclass(frozen=True)
class ProductChanges:
    """Fields to set on a product; None means "leave as it is" (or absent on create)."""

    sku: str | None = None
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    stock: int | None = None
    category_id: int | None = None


def _problems(changes: ProductChanges, *, creating: bool) -> list[Problem]:
    found: list[Problem] = []
    if changes.sku is not None or creating:
        found += check_text(changes.sku, ("input", "sku"), max_length=64)
        if changes.sku and not found and not SKU_PATTERN.match(changes.sku):
            found.append(
                Problem(
                    ("input", "sku"),
                    "`sku` may hold letters, digits, '.', '_' and '-' only",
                    ProblemCode.INVALID,
                )
            )
    if changes.name is not None or creating:
        found += check_text(changes.name, ("input", "name"), max_length=200)
    if changes.slug is not None and not (
        len(changes.slug) <= 200 and SLUG_PATTERN.match(changes.slug)
    ):
        found.append(
            Problem(
                ("input", "slug"),
                "`slug` must be lower-case words of letters and digits joined by '-'",
                ProblemCode.INVALID,
            )
        )
    if changes.description is not None:
        found += check_text(
            changes.description,
            ("input", "description"),
            max_length=10_000,
            required=False,
            multiline=True,
        )
    if changes.price is None and creating:
        found.append(Problem(("input", "price"), "`price` is required", ProblemCode.REQUIRED))
    if changes.price is not None:
        try:
            to_minor(changes.price, "price")
        except BadUserInput as error:
            found.append(Problem(("input", "price"), error.message, ProblemCode.INVALID))
    if changes.currency is not None and not CURRENCY_PATTERN.match(changes.currency):
        found.append(
            Problem(
                ("input", "currency"),
                "`currency` must be a three-letter ISO 4217 code such as USD",
                ProblemCode.INVALID,
            )
        )
    if changes.stock is None and creating:
        found.append(Problem(("input", "stock"), "`stock` is required", ProblemCode.REQUIRED))
    if changes.stock is not None and not 0 <= changes.stock <= MAX_STOCK:
        found.append(
            Problem(
                ("input", "stock"),
                f"`stock` must be between 0 and {MAX_STOCK}",
                ProblemCode.OUT_OF_RANGE,
            )
        )
    return found


async def _conflicts(changes: ProductChanges, product_id: int | None) -> list[Problem]:
    """Problems with rows that exist: taken SKU or slug, unknown category."""
    found: list[Problem] = []
    others = Product.exclude(id=product_id) if product_id is not None else Product.all()
    if changes.sku is not None and await others.filter(sku=changes.sku).exists():
        found.append(
            Problem(
                ("input", "sku"),
                f"Another product has SKU {changes.sku!r}",
                ProblemCode.DUPLICATE_SKU,
            )
        )
    if changes.slug is not None and await others.filter(slug=changes.slug).exists():
        found.append(
            Problem(
                ("input", "slug"),
                f"Another product has slug {changes.slug!r}",
                ProblemCode.DUPLICATE_SLUG,
            )
        )
    if changes.category_id is not None and not await Category.exists(id=changes.category_id):
        found.append(Problem(("input", "categoryId"), "No such category", ProblemCode.NOT_FOUND))
    return found


async def _free_slug(name: str) -> str:
    """A slug made from `name`, numbered when products already use it."""
    base = slugify(name)[:190] or "product"
    taken = set(await Product.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    return slug


def _as_fields(changes: ProductChanges) -> dict[str, Any]:
    fields: dict[str, Any] = {
        name: getattr(changes, name)
        for name in ("sku", "name", "slug", "description", "currency", "stock", "category_id")
        if getattr(changes, name) is not None
    }
    if changes.price is not None:
        fields["price_minor"] = to_minor(changes.price, "price")
    return fields


def _searched(changes: ProductChanges, product: Product | None) -> dict[str, str]:
    """The search columns after `changes` (none to write when no searched field moves)."""
    searched = {"name": changes.name, "sku": changes.sku, "description": changes.description}
    if product is not None and all(value is None for value in searched.values()):
        return {}
    now = {
        field: value if value is not None else (getattr(product, field) if product else "")
        for field, value in searched.items()
    }
    return search_columns(now["name"], now["sku"], now["description"])


async def _save_product(changes: ProductChanges, product: Product | None) -> Product:
    """Check `changes` and write them in one transaction: create when `product` is None."""
    problems = _problems(changes, creating=product is None)
    if problems:
        raise Rejected(problems)
    try:
        async with in_transaction():
            conflicts = await _conflicts(changes, product.id if product else None)
            if conflicts:
                raise Rejected(conflicts)
            if product is None:
                return await Product.create(**(_as_fields(changes) | _searched(changes, None)))
            # A bulk update skips `auto_now`: the staff change stamps updated_at itself.
            await Product.filter(id=product.id).update(
                **_as_fields(changes), **_searched(changes, product), updated_at=timezone.now()
            )
            return await Product.get(id=product.id)
    except IntegrityError:
        # Another request took the SKU or slug between our check and our write.
        conflicts = await _conflicts(changes, product.id if product else None)
        taken = Problem(("input", "sku"), "The SKU or slug is taken", ProblemCode.DUPLICATE_SKU)
        raise Rejected(conflicts or [taken]) from None


async def create_product(
    changes: ProductChanges, broker: Broker, *, default_currency: str
) -> Product:
    """A new product; its slug comes from its name unless given."""
    if changes.slug is None and changes.name and changes.name.strip():
        changes = replace(changes, slug=await _free_slug(changes.name))
    created = await _save_product(
        replace(changes, currency=changes.currency or default_currency), None
    )
    await broker.publish_inventory([(created.id, created.stock)])
    return created


async def update_product(product_id: int, changes: ProductChanges, broker: Broker) -> Product:
    product = await Product.get_or_none(id=product_id)
    if product is None:
        raise reject(("input", "id"), "No such product", ProblemCode.NOT_FOUND)
    updated = await _save_product(changes, product)
    await broker.publish_inventory([(updated.id, updated.stock - product.stock)])
    return updated


async def delete_product(product_id: int) -> Product:
    """Delete a product and its reviews; past orders keep their lines without it."""
    async with in_transaction():
        product = await Product.get_or_none(id=product_id)
        if product is None:
            raise reject(("input", "id"), "No such product", ProblemCode.NOT_FOUND)
        await product.delete()
    return product

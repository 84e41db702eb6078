"""GraphQL types of the catalog: `Product`, `Category`, `Money`.

Types are plain: every field reads a value already on the object, filled from the row,
or by `schema.prefetch` for a whole level at once (see there). The batch functions at
the end load each relation for many objects through the request's DataLoaders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from models.catalog import Category as CategoryModel
from models.catalog import Product as ProductModel
from resolvers import catalog
from resolvers.money import from_minor
from resolvers.pagination import PageArgs
from schema.context import SchemaContext, page_limits
from schema.nodes import register_node
from schema.payloads import UserError, mutation_payload
from schema.permissions import require_staff_scope
from schema.prefetch import (
    NOT_LOADED,
    by_pk,
    prefetched_connection,
    prefetched_object,
    relation,
    resolve_page,
    selects,
)
from schema.relay import Connection, Node, id_of, parent_connections, to_global_id

if TYPE_CHECKING:
    from schema.reviews import Review


@strawberry.type(description="An amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(description='A decimal string, e.g. "19.99".')
    currency: str = strawberry.field(description="ISO 4217 code, e.g. USD.")


@strawberry.federation.type(keys=["id", "sku"], description="Something the store sells.")
class Product(Node):
    id: strawberry.ID
    sku: str
    name: str
    slug: str
    description: str
    price: Money
    stock: int
    in_stock: bool
    average_rating: float | None = strawberry.field(
        description="Mean rating of its reviews, or null without reviews."
    )
    review_count: int
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    category_pk: strawberry.Private[int | None]
    prefetched: strawberry.Private[dict[Any, Any]]
    category: Category | None = NOT_LOADED

    @classmethod
    def from_model(cls, product: ProductModel) -> Product:
        count = product.review_count
        return cls(
            id=to_global_id("Product", product.id),
            sku=product.sku,
            name=product.name,
            slug=product.slug,
            description=product.description,
            price=Money(amount=from_minor(product.price_minor), currency=product.currency),
            stock=product.stock,
            in_stock=product.stock > 0,
            average_rating=round(product.rating_total / count, 2) if count else None,
            review_count=count,
            created_at=product.created_at,
            updated_at=product.updated_at,
            pk=product.id,
            category_pk=product.category_id,
            prefetched={},
        )

    @strawberry.field(description="Newest first.")
    def reviews(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Annotated[Review, strawberry.lazy("schema.reviews")]]:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return resolve_page(self, info.context, "reviews", args)

    @classmethod
    async def resolve_reference(
        cls, info: Info, id: strawberry.ID | None = None, sku: str | None = None
    ) -> Product | None:
        pk = id_of(id, "Product", "id") if id is not None else None
        found = await catalog.find_product(info.context.loaders, id_=pk, sku=sku, slug=None)
        return None if found is None else cls.from_model(found)


@strawberry.federation.type(keys=["id"], description="A node of the category tree.")
class Category(Node):
    id: strawberry.ID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]
    prefetched: strawberry.Private[dict[Any, Any]]
    parent: Category | None = NOT_LOADED

    @classmethod
    def from_model(cls, category: CategoryModel) -> Category:
        return cls(
            id=to_global_id("Category", category.id),
            name=category.name,
            slug=category.slug,
            created_at=category.created_at,
            updated_at=category.updated_at,
            pk=category.id,
            parent_pk=category.parent_id,
            prefetched={},
        )

    @strawberry.field(description="Direct subcategories, by name, a page at a time.")
    def children(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Category]:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return resolve_page(self, info.context, "children", args)

    @strawberry.field(
        description="Products directly in this category, by name. For the whole subtree, "
        "use `products(filter: {categoryId: ...})`."
    )
    def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Product]:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return resolve_page(self, info.context, "products", args)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Category | None:
        found = await catalog.find_category(
            info.context.loaders, id_=id_of(id, "Category", "id"), slug=None
        )
        return None if found is None else cls.from_model(found)


async def categories_by_pk(context: SchemaContext, pks: list[int | None]) -> list[Category | None]:
    return await by_pk(context.loaders.category_by_id, pks, Category.from_model)


async def products_by_pk(context: SchemaContext, pks: list[int | None]) -> list[Product | None]:
    return await by_pk(context.loaders.product_by_id, pks, Product.from_model)


async def _product_categories(
    context: SchemaContext, products: list[Product], _: PageArgs | None
) -> list[Category | None]:
    return await categories_by_pk(context, [product.category_pk for product in products])


async def _parents(
    context: SchemaContext, categories: list[Category], _: PageArgs | None
) -> list[Category | None]:
    return await categories_by_pk(context, [category.parent_pk for category in categories])


async def _children(
    context: SchemaContext, categories: list[Category], args: PageArgs | None
) -> list[Connection[Category]]:
    loaders = context.loaders
    return await parent_connections(
        context,
        catalog.CATEGORY_CHILDREN,
        loaders.children_by_category,
        [category.pk for category in categories],
        args,
        Category.from_model,
        loaders.child_count_by_category,
    )


async def _category_products(
    context: SchemaContext, categories: list[Category], args: PageArgs | None
) -> list[Connection[Product]]:
    loaders = context.loaders
    return await parent_connections(
        context,
        catalog.CATEGORY_PRODUCTS,
        loaders.products_by_category,
        [category.pk for category in categories],
        args,
        Product.from_model,
        loaders.product_count_by_category,
    )


relation(Product, "category", _product_categories)
relation(Category, "parent", _parents)
relation(Category, "children", _children, paged=True)
relation(Category, "products", _category_products, paged=True)
register_node("Product", lambda loaders: loaders.product_by_id, Product.from_model)
register_node("Category", lambda loaders: loaders.category_by_id, Category.from_model)


ProductOrderField = strawberry.enum(
    catalog.ProductOrderField, description="What a product listing is sorted by."
)


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input(description="Narrows a product listing; all given conditions apply.")
class ProductFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Words to find in the name, SKU or description, in any order, "
        'ignoring case and accents; each word also finds the words it starts ("nav" '
        'finds "Navy"). At most 8 words and 200 characters. Order by RELEVANCE for '
        "the best matches first.",
    )
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="That category and its descendants."
    )
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None


@strawberry.input(description="Sort order of a product listing; ties are broken by ID.")
class ProductOrder:
    field: ProductOrderField  # type: ignore[valid-type]
    direction: OrderDirection = OrderDirection.ASC


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="The catalog, a page at a time.")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ProductFilter | None = None,
        order_by: ProductOrder | None = None,
    ) -> Connection[Product]:
        given = filter or ProductFilter()
        category_pk = (
            id_of(given.category_id, "Category", "filter.categoryId")
            if given.category_id is not None
            else None
        )
        page = await catalog.list_products(
            catalog.ProductFilter(
                search=given.search,
                category_id=category_pk,
                min_price=given.min_price,
                max_price=given.max_price,
                in_stock=given.in_stock,
            ),
            catalog.ProductOrder(
                field=catalog.ProductOrderField(order_by.field)
                if order_by
                else catalog.ProductOrderField.NAME,
                descending=order_by is not None and order_by.direction is OrderDirection.DESC,
            ),
            PageArgs(first=first, after=after, last=last, before=before),
            page_limits(info.context),
            with_total=selects(info, "totalCount"),
        )
        return await prefetched_connection(info, page, Product.from_model)

    @strawberry.field(description="One product, by exactly one of `id`, `sku` or `slug`.")
    async def product(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        sku: str | None = None,
        slug: str | None = None,
    ) -> Product | None:
        pk = id_of(id, "Product", "id") if id is not None else None
        row = await catalog.find_product(info.context.loaders, id_=pk, sku=sku, slug=slug)
        return await prefetched_object(info, row, Product.from_model)

    @strawberry.field(description="Categories by name; `rootsOnly` keeps the top level.")
    async def categories(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        roots_only: bool = False,
    ) -> Connection[Category]:
        page = await catalog.list_categories(
            PageArgs(first=first, after=after, last=last, before=before),
            page_limits(info.context),
            roots_only=roots_only,
            with_total=selects(info, "totalCount"),
        )
        return await prefetched_connection(info, page, Category.from_model)

    @strawberry.field(description="One category, by exactly one of `id` or `slug`.")
    async def category(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        slug: str | None = None,
    ) -> Category | None:
        pk = id_of(id, "Category", "id") if id is not None else None
        row = await catalog.find_category(info.context.loaders, id_=pk, slug=slug)
        return await prefetched_object(info, row, Category.from_model)


@strawberry.input(description="A new product; the slug comes from the name when absent.")
class CreateProductInput:
    sku: str
    name: str
    price: Decimal
    stock: int
    description: str | None = None
    slug: str | None = None
    category_id: strawberry.ID | None = None
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217; the store's currency when absent."
    )


@strawberry.input(description="Changes to a product; absent fields stay as they are.")
class UpdateProductInput:
    id: strawberry.ID
    sku: str | None = None
    name: str | None = None
    price: Decimal | None = None
    stock: int | None = None
    description: str | None = None
    slug: str | None = None
    category_id: strawberry.ID | None = None
    currency: str | None = None


@strawberry.input
class DeleteProductInput:
    id: strawberry.ID


@strawberry.type
class CreateProductPayload:
    product: Product | None
    user_errors: list[UserError]


@strawberry.type
class UpdateProductPayload:
    product: Product | None
    user_errors: list[UserError]


@strawberry.type
class DeleteProductPayload:
    product: Product | None = strawberry.field(description="The product as it was.")
    deleted_product_id: strawberry.ID | None
    user_errors: list[UserError]


def _changes(given: CreateProductInput | UpdateProductInput) -> catalog.ProductChanges:
    category = given.category_id
    return catalog.ProductChanges(
        sku=given.sku,
        name=given.name,
        slug=given.slug,
        description=given.description,
        price=given.price,
        currency=given.currency,
        stock=given.stock,
        category_id=id_of(category, "Category", "input.categoryId") if category else None,
    )


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Staff: add a product. Scope `catalog:write`.")
    async def create_product(self, info: Info, input: CreateProductInput) -> CreateProductPayload:
        await require_staff_scope(info, "catalog:write")
        currency = info.context.settings.currency
        return await mutation_payload(
            info,
            CreateProductPayload,
            catalog.create_product(_changes(input), info.context.broker, default_currency=currency),
            lambda row: {"product": Product.from_model(row)},
        )

    @strawberry.mutation(description="Staff: change a product. Scope `catalog:write`.")
    async def update_product(self, info: Info, input: UpdateProductInput) -> UpdateProductPayload:
        await require_staff_scope(info, "catalog:write")
        return await mutation_payload(
            info,
            UpdateProductPayload,
            catalog.update_product(
                id_of(input.id, "Product", "input.id"), _changes(input), info.context.broker
            ),
            lambda row: {"product": Product.from_model(row)},
        )

    @strawberry.mutation(
        description="Staff: delete a product and its reviews. Scope `catalog:write`."
    )
    async def delete_product(self, info: Info, input: DeleteProductInput) -> DeleteProductPayload:
        await require_staff_scope(info, "catalog:write")
        return await mutation_payload(
            info,
            DeleteProductPayload,
            catalog.delete_product(id_of(input.id, "Product", "input.id")),
            lambda row: {"product": Product.from_model(row), "deleted_product_id": input.id},
        )

"""GraphQL types of the catalog: `Product`, `Category`, `Money`.

Types are plain: every field reads a value already on the object, filled from the row,
or a relation (`schema.relations`), loaded by `schema.prefetch` for a whole level at once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from auth.scopes import Scope
from loaders.pagination import Children
from models.catalog import Category as CategoryModel
from models.catalog import Product as ProductModel
from models.reviews import Review as ReviewModel
from resolvers import catalog
from resolvers.money import from_minor
from resolvers.pagination import PageArgs
from resolvers.reviews import PRODUCT_REVIEWS
from schema.context import SchemaContext, page_limits
from schema.enums import described_enum
from schema.nodes import register_node
from schema.payloads import USER_ERRORS, UserError, mutation_payload
from schema.permissions import require_staff_scope
from schema.prefetch import prefetched_connection, prefetched_object, selects
from schema.relations import by_pk, lazy_type, paged_relation, relation
from schema.relay import After, Before, Connection, First, Last, Node, id_of, to_global_id

if TYPE_CHECKING:
    from schema.reviews import Review


async def _categories_of_products(
    context: SchemaContext, products: list[Product]
) -> list[Category | None]:
    return await categories_by_pk(context, [product.category_pk for product in products])


async def _parents(context: SchemaContext, categories: list[Category]) -> list[Category | None]:
    return await categories_by_pk(context, [category.parent_pk for category in categories])


@strawberry.type(description="An amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(
        description='A decimal string with two decimals, e.g. "19.99": add and compare it '
        "as a decimal, not as a float."
    )
    currency: str = strawberry.field(description="ISO 4217 code, e.g. USD.")


@strawberry.federation.type(
    keys=["id", "sku"], description="Something the store sells. Public: no token needed."
)
class Product(Node):
    sku: str = strawberry.field(
        description="Stock-keeping unit, unique: up to 64 letters, digits, '.', '_' and '-'. "
        "`product(sku:)` finds the product by it."
    )
    name: str = strawberry.field(description="Display name, up to 200 characters.")
    slug: str = strawberry.field(
        description="Unique name for URLs: lower-case words of letters and digits joined by "
        "'-', up to 200 characters. `product(slug:)` finds the product by it."
    )
    description: str = strawberry.field(
        description="Free text, up to 10,000 characters, may hold line breaks; empty when "
        "there is none."
    )
    price: Money = strawberry.field(
        description="The price of one unit now. An order keeps the price it was placed at "
        "(`OrderItem.unitPrice`)."
    )
    stock: int = strawberry.field(
        description="Units that can be ordered now; units in unpaid (PENDING) orders are "
        "already taken out. 0 when sold out."
    )
    in_stock: bool = strawberry.field(description="Whether `stock` is above 0.")
    average_rating: float | None = strawberry.field(
        description="Mean rating of its reviews (1 to 5, two decimals), or null without reviews."
    )
    review_count: int = strawberry.field(description="How many reviews it has.")
    created_at: datetime = strawberry.field(description="When it was added to the catalog.")
    updated_at: datetime = strawberry.field(description="When staff last changed it.")
    pk: strawberry.Private[int]
    category_pk: strawberry.Private[int | None]
    prefetched: strawberry.Private[dict[Any, Any]]
    category: Category | None = relation(
        _categories_of_products, description="The category it is in; null when in none."
    )
    reviews: Connection[Annotated[Review, strawberry.lazy("schema.reviews")]] = paged_relation(
        Children(ReviewModel, "product_id", PRODUCT_REVIEWS),
        lazy_type("schema.reviews", "Review"),
        count=lambda product: product.review_count,
        description="Its reviews, newest first, a page at a time.",
    )

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

    @classmethod
    async def resolve_reference(
        cls, info: Info, id: strawberry.ID | None = None, sku: str | None = None
    ) -> Product | None:
        pk = id_of(id, "Product", "id") if id is not None else None
        found = await catalog.find_product(info.context.loaders, id_=pk, sku=sku, slug=None)
        return None if found is None else cls.from_model(found)


@strawberry.federation.type(
    keys=["id"], description="A node of the category tree. Public: no token needed."
)
class Category(Node):
    name: str = strawberry.field(description="Display name.")
    slug: str = strawberry.field(
        description="Unique name for URLs. `category(slug:)` finds the category by it."
    )
    created_at: datetime = strawberry.field(description="When it was added.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]
    prefetched: strawberry.Private[dict[Any, Any]]
    parent: Category | None = relation(
        _parents, description="The category above; null at the top of the tree."
    )
    children: Connection[Category] = paged_relation(
        Children(CategoryModel, "parent_id", catalog.CATEGORY_CHILDREN),
        lambda: Category,
        description="Direct subcategories, by name, a page at a time.",
    )
    products: Connection[Product] = paged_relation(
        Children(ProductModel, "category_id", catalog.CATEGORY_PRODUCTS),
        lambda: Product,
        description="Products directly in this category, by name. For the whole subtree, "
        "use `products(filter: {categoryId: ...})`.",
    )

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


register_node("Product", lambda loaders: loaders.product_by_id, Product.from_model)
register_node("Category", lambda loaders: loaders.category_by_id, Category.from_model)


ProductOrderField = described_enum(
    catalog.ProductOrderField,
    "What a product listing is sorted by; ties are broken by ID.",
    {
        "NAME": "By name.",
        "PRICE": "By price.",
        "CREATED_AT": "By when the product was added.",
        "AVERAGE_RATING": "By average rating; products without reviews count as 0.",
        "RELEVANCE": "By how well the product matches `filter.search` (words of the name "
        "weigh most); ASC gives the best matches first. Needs words in `filter.search`, "
        "else BAD_USER_INPUT.",
    },
)


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value(
        "ASC",
        description="Ascending: A to Z, lowest first, oldest first; for RELEVANCE, best "
        "match first.",
    )
    DESC = strawberry.enum_value(
        "DESC",
        description="Descending: Z to A, highest first, newest first; for RELEVANCE, best "
        "match last.",
    )


@strawberry.input(description="Narrows a product listing; all given conditions apply.")
class ProductFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Words to find in the name, SKU or description, in any order, "
        'ignoring case and accents; each word also finds the words it starts ("nav" '
        'finds "Navy"). At most 8 words and 200 characters (BAD_USER_INPUT beyond). '
        "Order by RELEVANCE for the best matches first.",
    )
    category_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only products in this category or its descendants (global ID of a "
        "Category; a malformed ID or another type's: BAD_USER_INPUT; an unknown category "
        "matches nothing).",
    )
    min_price: Decimal | None = strawberry.field(
        default=None,
        description='Only products priced at least this, a decimal string such as "10.00" '
        "(negative or more than two decimals: BAD_USER_INPUT).",
    )
    max_price: Decimal | None = strawberry.field(
        default=None,
        description='Only products priced at most this, a decimal string such as "50.00" '
        "(negative or more than two decimals: BAD_USER_INPUT).",
    )
    in_stock: bool | None = strawberry.field(
        default=None,
        description="true: only products in stock; false: only sold-out ones; absent: both.",
    )


@strawberry.input(description="Sort order of a product listing; ties are broken by ID.")
class ProductOrder:
    field: ProductOrderField = strawberry.field(  # type: ignore[valid-type]
        description="What to sort by."
    )
    direction: OrderDirection = strawberry.field(
        default=OrderDirection.ASC, description="Which way; ASC when absent."
    )


# The lookup arguments of `product` and `category`.
LookupId = Annotated[
    strawberry.ID | None,
    strawberry.argument(
        description="Its global ID (malformed, or another type's: BAD_USER_INPUT)."
    ),
]
LookupSlug = Annotated[
    str | None,
    strawberry.argument(
        description="Its slug, exactly; up to 200 characters (BAD_USER_INPUT beyond)."
    ),
]


@strawberry.type
class CatalogQuery:
    @strawberry.field(
        description="The catalog, a page at a time. Public. BAD_USER_INPUT for bad page "
        "arguments, a bad `filter`, or RELEVANCE without search words."
    )
    async def products(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            ProductFilter | None,
            strawberry.argument(description="Which products; all when absent."),
        ] = None,
        order_by: Annotated[
            ProductOrder | None,
            strawberry.argument(description="The order; by name, A to Z, when absent."),
        ] = None,
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

    @strawberry.field(
        description="One product, by exactly one of `id`, `sku` or `slug` (none or several: "
        "BAD_USER_INPUT); null when none matches. Public."
    )
    async def product(
        self,
        info: Info,
        id: LookupId = None,
        sku: Annotated[
            str | None,
            strawberry.argument(
                description="Its SKU, exactly; up to 64 characters (BAD_USER_INPUT beyond)."
            ),
        ] = None,
        slug: LookupSlug = None,
    ) -> Product | None:
        pk = id_of(id, "Product", "id") if id is not None else None
        row = await catalog.find_product(info.context.loaders, id_=pk, sku=sku, slug=slug)
        return await prefetched_object(info, row, Product.from_model)

    @strawberry.field(
        description="Categories by name, a page at a time. Public. BAD_USER_INPUT for bad "
        "page arguments."
    )
    async def categories(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        roots_only: Annotated[
            bool,
            strawberry.argument(
                description="true: only the top of the tree (categories without a parent)."
            ),
        ] = False,
    ) -> Connection[Category]:
        page = await catalog.list_categories(
            PageArgs(first=first, after=after, last=last, before=before),
            page_limits(info.context),
            roots_only=roots_only,
            with_total=selects(info, "totalCount"),
        )
        return await prefetched_connection(info, page, Category.from_model)

    @strawberry.field(
        description="One category, by exactly one of `id` or `slug` (none or both: "
        "BAD_USER_INPUT); null when none matches. Public."
    )
    async def category(
        self,
        info: Info,
        id: LookupId = None,
        slug: LookupSlug = None,
    ) -> Category | None:
        pk = id_of(id, "Category", "id") if id is not None else None
        row = await catalog.find_category(info.context.loaders, id_=pk, slug=slug)
        return await prefetched_object(info, row, Category.from_model)


# The fields of `createProduct` and `updateProduct`: the same rules, with the userErrors
# codes each can give.
_SKU = (
    "Stock-keeping unit, unique (DUPLICATE_SKU): letters, digits, '.', '_' and '-', "
    "starting with a letter or digit (INVALID), up to 64 characters (TOO_LONG)."
)
_NAME = "Display name: not blank (REQUIRED), up to 200 characters (TOO_LONG)."
_PRICE = (
    'Price of one unit, a decimal string such as "19.99": not negative, at most two '
    "decimals (INVALID)."
)
_STOCK = "Units in stock, 0 to 1,000,000,000 (OUT_OF_RANGE)."
_DESCRIPTION = (
    "Free text up to 10,000 characters (TOO_LONG); line breaks and tabs allowed, other "
    "control characters not (INVALID). Empty on a new product when absent."
)
_SLUG = (
    "Unique name for URLs (DUPLICATE_SLUG): lower-case words of letters and digits joined "
    "by '-', up to 200 characters (INVALID). A new product without one gets one made from "
    "its name, numbered when taken (`blue-mug-2`)."
)
_CATEGORY_ID = (
    "Global ID of its category (NOT_FOUND when there is no such category; malformed, or "
    "another type's: BAD_USER_INPUT). A new product without one is in no category."
)
_CURRENCY = (
    "ISO 4217 code, three capital letters (INVALID), e.g. USD. A new product without one "
    "gets the store's currency (STORE_CURRENCY); orders take only products in that currency."
)
PRODUCT_ID_INPUT = (
    "The product's global ID (NOT_FOUND in `userErrors` when there is none; malformed, or "
    "another type's: BAD_USER_INPUT)."
)


@strawberry.input(description="A new product: `sku`, `name`, `price` and `stock` are required.")
class CreateProductInput:
    sku: str = strawberry.field(description=_SKU)
    name: str = strawberry.field(description=_NAME)
    price: Decimal = strawberry.field(description=_PRICE)
    stock: int = strawberry.field(description=_STOCK)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    slug: str | None = strawberry.field(default=None, description=_SLUG)
    category_id: strawberry.ID | None = strawberry.field(default=None, description=_CATEGORY_ID)
    currency: str | None = strawberry.field(default=None, description=_CURRENCY)


@strawberry.input(description="Changes to a product; absent (or null) fields stay as they are.")
class UpdateProductInput:
    id: strawberry.ID = strawberry.field(description=PRODUCT_ID_INPUT)
    sku: str | None = strawberry.field(default=None, description=_SKU)
    name: str | None = strawberry.field(default=None, description=_NAME)
    price: Decimal | None = strawberry.field(default=None, description=_PRICE)
    stock: int | None = strawberry.field(default=None, description=_STOCK)
    description: str | None = strawberry.field(default=None, description=_DESCRIPTION)
    slug: str | None = strawberry.field(default=None, description=_SLUG)
    category_id: strawberry.ID | None = strawberry.field(default=None, description=_CATEGORY_ID)
    currency: str | None = strawberry.field(default=None, description=_CURRENCY)


@strawberry.input(description="Which product to delete.")
class DeleteProductInput:
    id: strawberry.ID = strawberry.field(description=PRODUCT_ID_INPUT)


@strawberry.type(description="What `createProduct` returns.")
class CreateProductPayload:
    product: Product | None = strawberry.field(
        description="The new product; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="What `updateProduct` returns.")
class UpdateProductPayload:
    product: Product | None = strawberry.field(
        description="The product as changed; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="What `deleteProduct` returns.")
class DeleteProductPayload:
    product: Product | None = strawberry.field(
        description="The product as it was; null when `userErrors` is not empty."
    )
    deleted_product_id: strawberry.ID | None = strawberry.field(
        description="The deleted product's global ID (drop it from caches); null when "
        "`userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


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
    @strawberry.mutation(
        description="Staff: add a product. Scope `catalog:write`, staff only (FORBIDDEN otherwise)."
    )
    async def create_product(
        self,
        info: Info,
        input: Annotated[CreateProductInput, strawberry.argument(description="The product.")],
    ) -> CreateProductPayload:
        await require_staff_scope(info, Scope.CATALOG_WRITE)
        currency = info.context.settings.currency
        return await mutation_payload(
            info,
            CreateProductPayload,
            catalog.create_product(_changes(input), info.context.broker, default_currency=currency),
            lambda row: {"product": Product.from_model(row)},
        )

    @strawberry.mutation(
        description="Staff: change a product. Scope `catalog:write`, staff only (FORBIDDEN "
        "otherwise). A change of `stock` reaches `inventoryChanged` subscribers."
    )
    async def update_product(
        self,
        info: Info,
        input: Annotated[
            UpdateProductInput,
            strawberry.argument(description="Which product, and what changes."),
        ],
    ) -> UpdateProductPayload:
        await require_staff_scope(info, Scope.CATALOG_WRITE)
        return await mutation_payload(
            info,
            UpdateProductPayload,
            catalog.update_product(
                id_of(input.id, "Product", "input.id"), _changes(input), info.context.broker
            ),
            lambda row: {"product": Product.from_model(row)},
        )

    @strawberry.mutation(
        description="Staff: delete a product and its reviews; orders keep their lines, with "
        "`product` null. Scope `catalog:write`, staff only (FORBIDDEN otherwise)."
    )
    async def delete_product(
        self,
        info: Info,
        input: Annotated[DeleteProductInput, strawberry.argument(description="Which product.")],
    ) -> DeleteProductPayload:
        await require_staff_scope(info, Scope.CATALOG_WRITE)
        return await mutation_payload(
            info,
            DeleteProductPayload,
            catalog.delete_product(id_of(input.id, "Product", "input.id")),
            lambda row: {"product": Product.from_model(row), "deleted_product_id": input.id},
        )

"""The catalog: a tree of categories and the products in them.

Prices are integers in the currency's minor unit (cents): exact, and sortable on SQLite,
which stores Tortoise decimals as text. The rating figures of a product are kept on its
row, written in the same transaction as each review, so listings can sort by average
rating with an index instead of aggregating every review.
"""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model


class Category(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=200, unique=True)
    parent: fields.ForeignKeyNullableRelation["Category"] = fields.ForeignKeyField(
        "storefront.Category",
        related_name="children",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    parent_id: int | None

    class Meta:
        table = "category"
        indexes = (
            Index(fields=("name", "id"), name="category_name_id_idx"),
            # A page of each category's children (loaders.catalog).
            Index(fields=("parent_id", "name", "id"), name="category_parent_name_idx"),
        )


class Product(Model):
    id = fields.IntField(primary_key=True)
    sku = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    slug = fields.CharField(max_length=200, unique=True)
    description = fields.TextField(default="")
    price_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    stock = fields.IntField(default=0)
    category: fields.ForeignKeyNullableRelation[Category] = fields.ForeignKeyField(
        "storefront.Category",
        related_name="products",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    review_count = fields.IntField(default=0)
    rating_total = fields.IntField(default=0)
    # rating_total / review_count, or 0 without reviews; stored so it can be indexed.
    rating_average = fields.FloatField(default=0)
    # The words of the name, and of name, SKU and description, folded for search
    # (resolvers.catalog.search_words): what the search index covers on either database.
    search_name = fields.TextField(db_default="")
    search_text = fields.TextField(db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    category_id: int | None

    class Meta:
        table = "product"
        indexes = (
            Index(fields=("name", "id"), name="product_name_id_idx"),
            Index(fields=("price_minor", "id"), name="product_price_id_idx"),
            Index(fields=("created_at", "id"), name="product_created_id_idx"),
            Index(fields=("rating_average", "id"), name="product_rating_id_idx"),
            Index(fields=("stock",), name="product_stock_idx"),
            # A page of each category's products (loaders.catalog).
            Index(fields=("category_id", "name", "id"), name="product_category_name_idx"),
        )
        constraints = (
            CheckConstraint(check="stock >= 0", name="product_stock_non_negative"),
            CheckConstraint(check="price_minor >= 0", name="product_price_non_negative"),
            CheckConstraint(check="review_count >= 0", name="product_review_count_non_negative"),
        )

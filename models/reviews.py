"""Reviews: one per author and product, rated 1 to 5."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from models.accounts import User
from models.catalog import Product


class Review(Model):
    id = fields.IntField(primary_key=True)
    rating = fields.SmallIntField()
    body = fields.TextField(default="")
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "storefront.User", related_name="reviews", on_delete=fields.CASCADE, db_index=True
    )
    product: fields.ForeignKeyRelation[Product] = fields.ForeignKeyField(
        "storefront.Product", related_name="reviews", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    author_id: int
    product_id: int

    class Meta:
        table = "review"
        unique_together = (("author", "product"),)
        # A product's reviews are listed newest first: (product_id, id) serves that order.
        indexes = (Index(fields=("product_id", "id"), name="review_product_id_idx"),)
        constraints = (
            CheckConstraint(check="rating >= 1 AND rating <= 5", name="review_rating_range"),
        )

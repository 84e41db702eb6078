"""Orders and their items. Unit prices are captured when the order is placed.

An order is known to the outside by its `public_id` (128 random bits, hex), never by its
sequential primary key: the key would tell how many orders the store takes.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from models.accounts import User
from models.catalog import Product


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class CancelReason(StrEnum):
    CUSTOMER = "CUSTOMER"
    STAFF = "STAFF"
    EXPIRED = "EXPIRED"


class Order(Model):
    id = fields.IntField(primary_key=True)
    public_id = fields.CharField(max_length=32, unique=True)
    number = fields.CharField(max_length=32, unique=True)
    customer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "storefront.User", related_name="orders", on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(OrderStatus, max_length=16, default=OrderStatus.PENDING)
    idempotency_key = fields.CharField(max_length=128, null=True)
    # While PENDING: when the order stops holding its stock. Null in every other status.
    hold_expires_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharEnumField(CancelReason, max_length=16, null=True)
    total_minor = fields.BigIntField()
    currency = fields.CharField(max_length=3)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    customer_id: int

    class Meta:
        table = "order"
        unique_together = (("customer", "idempotency_key"),)
        indexes = (
            Index(fields=("customer_id", "id"), name="order_customer_id_idx"),
            Index(fields=("status", "id"), name="order_status_id_idx"),
            Index(fields=("status", "hold_expires_at"), name="order_hold_idx"),
        )
        constraints = (CheckConstraint(check="total_minor >= 0", name="order_total_non_negative"),)


class OrderItem(Model):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "storefront.Order", related_name="items", on_delete=fields.CASCADE, db_index=True
    )
    product: fields.ForeignKeyNullableRelation[Product] = fields.ForeignKeyField(
        "storefront.Product",
        related_name="order_items",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    quantity = fields.IntField()
    unit_price_minor = fields.BigIntField()

    order_id: int
    product_id: int | None

    class Meta:
        table = "order_item"
        constraints = (
            CheckConstraint(check="quantity > 0", name="order_item_quantity_positive"),
            CheckConstraint(check="unit_price_minor >= 0", name="order_item_price_non_negative"),
        )

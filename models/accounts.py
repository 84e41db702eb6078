"""People who use the store: customers and staff."""

from tortoise import fields
from tortoise.models import Model


class User(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200)
    # Null for users who only sign in through an external identity provider.
    password_hash = fields.CharField(max_length=255, null=True)
    is_staff = fields.BooleanField(default=False)
    # A deactivated user can't sign in, and their tokens are refused.
    is_active = fields.BooleanField(default=True, db_default=True)
    # Access tokens issued (`iat`) before this instant are refused: set when the user's
    # sessions are ended (`storefront revoke-tokens`, deactivation).
    tokens_valid_after = fields.DatetimeField(null=True)
    # `iss|sub` of the external identity provider's account, for users created on first use.
    external_subject = fields.CharField(max_length=512, unique=True, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "user"

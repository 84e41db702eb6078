"""Persisted operations: the allow-list `storefront register-operations` fills.

Every instance reads the same rows, so one registration serves the whole fleet. An
operation is found by the id its client sends (Apollo: the SHA-256 of the body; Relay:
whatever its compiler chose, often an MD5) or by the SHA-256 of its body, which lets a
client that sends the full text of a registered operation run it too.
"""

from tortoise import fields
from tortoise.models import Model


# (Model docstrings become table comments, which Tortoise's SQLite DDL mangles.)
class PersistedOperation(Model):
    id = fields.CharField(max_length=128, primary_key=True)
    body_sha256 = fields.CharField(max_length=64, db_index=True)
    body = fields.TextField()
    name = fields.CharField(max_length=200, null=True)
    # query, mutation or subscription
    operation_type = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "persisted_operation"

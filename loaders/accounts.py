"""Batch functions for users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.rows import one_per_key
from loaders.select import select_in
from models.accounts import User

# What the GraphQL `User` shows; not the password hash, nor timestamps nobody reads
# (converting them showed in the listing benchmark's profile: benchmarks/README.md).
PUBLIC_FIELDS = ("id", "name", "email", "is_staff")


async def load_users(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(User, "id", ids, columns=PUBLIC_FIELDS), "id", ids)

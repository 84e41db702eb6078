"""Batch functions for users."""

from __future__ import annotations

from collections.abc import Sequence

from models.accounts import User

# What the GraphQL `User` shows; not the password hash, nor timestamps nobody reads
# (converting them was a tenth of the listing benchmark's CPU).
PUBLIC_FIELDS = ("id", "name", "email", "is_staff")


async def load_users(ids: Sequence[int]) -> list[User | None]:
    users = {user.id: user for user in await User.filter(id__in=ids).only(*PUBLIC_FIELDS)}
    return [users.get(id_) for id_ in ids]

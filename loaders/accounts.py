"""Batch functions for users."""

from __future__ import annotations

from collections.abc import Sequence

from models.accounts import User


async def load_users(ids: Sequence[int]) -> list[User | None]:
    users = {user.id: user for user in await User.filter(id__in=ids)}
    return [users.get(id_) for id_ in ids]

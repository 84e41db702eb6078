"""The shapes a DataLoader batch answers in: one value per key, in the keys' order."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

from tortoise.functions import Count
from tortoise.models import Model

M = TypeVar("M")
K = TypeVar("K", bound=Hashable)


def one_per_key(rows: Iterable[M], field: str, keys: Sequence[K]) -> list[M | None]:
    """The row whose `field` is each key, or None where there is none."""
    found: dict[Any, M] = {getattr(row, field): row for row in rows}
    return [found.get(key) for key in keys]


def all_per_key(rows: Iterable[M], field: str, keys: Sequence[K]) -> list[list[M]]:
    """The rows whose `field` is each key, in the rows' order (empty where none)."""
    found: dict[Any, list[M]] = {key: [] for key in keys}
    for row in rows:
        found[getattr(row, field)].append(row)
    return [found[key] for key in keys]


async def count_per_key(model: type[Model], field: str, keys: Sequence[int]) -> list[int]:
    """How many rows of `model` have each key in `field`: one grouped statement."""
    rows = (
        await model.filter(**{f"{field}__in": keys})
        .annotate(count=Count("id"))
        .group_by(field)
        .values_list(field, "count")
    )
    counts = dict(rows)
    return [counts.get(key, 0) for key in keys]

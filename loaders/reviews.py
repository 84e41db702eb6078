"""Batch functions for reviews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loaders.rows import one_per_key
from loaders.select import select_in
from models.reviews import Review


async def load_reviews(ids: Sequence[int]) -> list[Any]:
    return one_per_key(await select_in(Review, "id", ids), "id", ids)


async def load_have_reviewed(author_ids: Sequence[int]) -> list[bool]:
    """Whether each user has written a review (which makes their name public)."""
    authors = set(
        await Review.filter(author_id__in=list(author_ids))
        .distinct()
        .values_list("author_id", flat=True)
    )
    return [author_id in authors for author_id in author_ids]

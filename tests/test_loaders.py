"""The DataLoader every loader is built on: one batch, values in key order, clean failures."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence

import pytest

from loaders import Loader


async def test_load_many_batches_once_and_answers_in_key_order() -> None:
    batches: list[list[int]] = []

    async def squares(keys: Sequence[int]) -> list[int]:
        batches.append(list(keys))
        return [key * key for key in keys]

    loader = Loader(squares)
    assert await loader.load_many([3, 1, 3, 2]) == [9, 1, 9, 4]
    assert await loader.load_many([2, 4]) == [4, 16]
    assert batches == [[3, 1, 2], [4]]


async def test_a_failed_batch_raises_and_leaves_no_unseen_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(keys: Sequence[int]) -> list[int]:
        raise ConnectionError("database went away")

    loader = Loader(failing)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(ConnectionError):
            await loader.load_many([1, 2, 3])
        await asyncio.sleep(0)  # let the done callbacks run
        loader.clear_all()
        del loader
        gc.collect()
    assert "never retrieved" not in caplog.text

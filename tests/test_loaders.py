"""The DataLoader every loader is built on: one batch, values in key order, clean failures."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from loaders import Loader
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    port_open,
    require_service,
)


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


READ_IN_TWO_DIALECTS = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from loaders.select import select_in
from models.accounts import User
from server.database import apply_migrations, tortoise_config

async def types_read(url):
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    await User.create(email="a@example.com", name="A", is_staff=True)
    [row] = await select_in(User, "email", ["a@example.com"])
    await Tortoise.close_connections()
    await Tortoise._reset_apps()
    EXECUTOR_CACHE.clear()
    return f"{type(row.is_staff).__name__}/{type(row.created_at).__name__}"

async def main():
    print(*[await types_read(url) for url in sys.argv[1:]])

asyncio.run(main())
"""


async def test_rows_are_converted_for_the_dialect_in_use(tmp_path: Path) -> None:
    """SQLite returns booleans as integers and timestamps as text, PostgreSQL as Python
    wants them: a process that reads from both, PostgreSQL first, gets bool and datetime
    from both."""
    require_service(port_open("127.0.0.1", 5432), "PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"storefront_dialects_{os.getpid()}"
    postgres_url = await create_postgres_database(name)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            READ_IN_TWO_DIALECTS,
            postgres_url,
            f"sqlite://{tmp_path}/a.db",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await drop_postgres_database(name)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == ["bool/datetime", "bool/datetime"]

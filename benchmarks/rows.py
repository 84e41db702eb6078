"""What reading rows costs: Tortoise models, Tortoise `.values()`, and `loaders.select`.

The figures behind `loaders/select.py`: the loaders read rows through Tortoise's
connection instead of building Tortoise queries and models. On a fresh PostgreSQL
database (migrated and seeded at the default size), each way reads the same rows many
times in a row and the CPU time of this process per read is printed: the whole cost on
the client side of the driver, the server's work excluded.

    python -m benchmarks.rows
    python -m benchmarks.rows --admin-url postgres://postgres@127.0.0.1:5432 --repeat 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tortoise import Tortoise

from benchmarks.database import BenchmarkDatabase, add_admin_url
from loaders.accounts import PUBLIC_FIELDS
from loaders.select import select_in
from models.accounts import User
from models.catalog import Product
from server.database import tortoise_config


async def _cpu_ms(read: Callable[[], Awaitable[Any]], repeat: int) -> float:
    for _ in range(20):
        await read()
    started = time.process_time()
    for _ in range(repeat):
        await read()
    return 1000 * (time.process_time() - started) / repeat


async def measure(url: str, repeat: int) -> list[tuple[str, float]]:
    await Tortoise.init(config=tortoise_config(url))
    try:
        user_ids = list(range(1, 101))
        product_ids = list(range(1, 101))
        ways: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            (
                "100 users, models",
                lambda: User.filter(id__in=user_ids).only(*PUBLIC_FIELDS),
            ),
            (
                "100 users, values()",
                lambda: User.filter(id__in=user_ids).values(*PUBLIC_FIELDS),
            ),
            (
                "100 users, loaders.select",
                lambda: select_in(User, "id", user_ids, columns=PUBLIC_FIELDS),
            ),
            ("100 products, models", lambda: Product.filter(id__in=product_ids)),
            ("100 products, values()", lambda: Product.filter(id__in=product_ids).values()),
            ("100 products, loaders.select", lambda: select_in(Product, "id", product_ids)),
        ]
        return [(name, await _cpu_ms(read, repeat)) for name, read in ways]
    finally:
        await Tortoise.close_connections()


async def main(args: argparse.Namespace) -> None:
    database = BenchmarkDatabase(args.admin_url, f"storefront_rows_{os.getpid()}")
    await database.create()
    try:
        database.storefront("migrate")
        database.storefront("seed")
        for name, cpu_ms in await measure(database.url, args.repeat):
            print(f"{name:32s} {cpu_ms:6.3f} ms CPU per read")
    finally:
        await database.drop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_admin_url(parser)
    parser.add_argument("--repeat", type=int, default=300, help="reads of each kind")
    return parser


if __name__ == "__main__":
    asyncio.run(main(_parser().parse_args()))

"""One request of each workload through the service in this process, with its SQL counted.

The statements are counted as the test suite counts them (`StatementCounter` of
tests/conftest.py: what Tortoise logs it sends), and the responses are kept, so that the
servers under load can be checked to answer the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from tortoise import Tortoise

from benchmarks.workloads import Workload
from server.app import create_app
from server.database import tortoise_config
from server.settings import Settings
from tests.conftest import StatementCounter


@dataclass(frozen=True)
class Reference:
    """A workload's first request, its SQL statement count and the service's answer."""

    body: bytes
    statements: int
    response: dict[str, Any]


async def references(database_url: str, workloads: Sequence[Workload]) -> dict[str, Reference]:
    """For each workload, its first request as answered by the service in process."""
    logger = logging.getLogger("tortoise.db_client")
    counter = StatementCounter()
    previous = logger.level
    await Tortoise.init(config=tortoise_config(database_url))
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        app = create_app(Settings(database_url=database_url), manage_database=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            found = {}
            for workload in workloads:
                body = workload.bodies()
                # The first request warms caches (parsed documents); count the second.
                await http.post("/graphql", content=body, headers=workload.headers)
                counter.reset()
                response = await http.post("/graphql", content=body, headers=workload.headers)
                answer = orjson.loads(response.content)
                found[workload.name] = Reference(body, counter.count, answer)
            return found
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)
        await Tortoise.close_connections()

"""What the schema needs from the request context (built by `server.context`)."""

from __future__ import annotations

from typing import Protocol

from auth.resource import Viewer
from loaders import Loaders
from resolvers.pagination import Limits


class SchemaSettings(Protocol):
    default_page_size: int
    max_page_size: int
    total_count_limit: int
    currency: str
    order_hold_seconds: int
    max_units_held_per_customer: int


class SchemaContext(Protocol):
    loaders: Loaders
    request_id: str

    async def viewer(self) -> Viewer | None: ...

    @property
    def settings(self) -> SchemaSettings: ...


def page_limits(context: SchemaContext) -> Limits:
    settings = context.settings
    return Limits(
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
        count_limit=settings.total_count_limit,
    )

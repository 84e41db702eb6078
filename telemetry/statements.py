"""Counts (and, with tracing on, traces) every SQL statement Tortoise sends.

Tortoise has no hook for this, so the `execute_*` methods of its client classes are
wrapped once, at start-up. A statement adds one to the current request's record; a
wrapped method called by another wrapped one (a subclass calling its parent) counts once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from telemetry import tracing
from telemetry.request import current_record

_METHODS = (
    "execute_insert",
    "execute_query",
    "execute_script",
    "execute_many",
    "execute_query_dict",
    "execute_query_dict_with_affected",
)
_inside: ContextVar[bool] = ContextVar("storefront_sql_statement", default=False)
_installed = False

Method = Callable[..., Coroutine[Any, Any, Any]]


def install() -> None:
    """Wrap the client classes of every backend Tortoise has (idempotent)."""
    global _installed
    if _installed:
        return
    # The backends' modules define the classes that run statements; import them so that
    # they are among the subclasses walked below.
    import tortoise.backends.asyncpg.client
    import tortoise.backends.sqlite.client  # noqa: F401

    for cls in _subclasses(BaseDBAsyncClient):
        for name in _METHODS:
            method = cls.__dict__.get(name)
            if method is not None:
                setattr(cls, name, _counted(method))
    _installed = True


def _subclasses(cls: type) -> list[type]:
    found: list[type] = [cls]
    subclass: type
    for subclass in cls.__subclasses__():
        found.extend(_subclasses(subclass))
    return found


def _counted(method: Method) -> Method:
    @functools.wraps(method)
    async def run(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return await method(self, query, *args, **kwargs)
        record = current_record()
        if record is not None:
            record.statements += 1
        token = _inside.set(True)
        try:
            if not tracing.active():
                return await method(self, query, *args, **kwargs)
            with tracing.span(
                "db.statement",
                {
                    "db.system.name": self.capabilities.dialect,
                    # Parameterised: the values are never part of the text.
                    "db.query.text": query,
                },
            ):
                return await method(self, query, *args, **kwargs)
        finally:
            _inside.reset(token)

    return run

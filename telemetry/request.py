"""The record of the HTTP request being served, for its access-log line and metrics.

The access-log middleware starts a record per request; code running for that request (in
its task, or tasks and callbacks started from it) notes what it learns. Outside a request
(WebSocket operations, start-up, commands) there is no record and notes are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class RequestRecord:
    request_id: str
    operation_name: str | None = None
    operation_type: str | None = None
    # "success", "error" (errors while executing) or "rejected" (refused before executing);
    # None when the request never reached GraphQL execution.
    outcome: str | None = None
    cost: int | None = None
    statements: int = 0
    error_codes: list[str] = field(default_factory=list)
    caller: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("storefront_request", default=None)


@contextmanager
def recording(request_id: str) -> Iterator[RequestRecord]:
    """A fresh record, current inside the block (and in the tasks started from it)."""
    record = RequestRecord(request_id)
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def current_record() -> RequestRecord | None:
    return _current.get()


def note_cost(cost: int) -> None:
    record = _current.get()
    if record is not None:
        record.cost = cost


def note_caller(caller: str) -> None:
    record = _current.get()
    if record is not None:
        record.caller = caller

"""Spans, when tracing is on; a shared do-nothing object otherwise.

`server.tracing` switches tracing on with an OpenTelemetry tracer; until then nothing here
imports OpenTelemetry, and `span()` returns the same inert object every time. Code on hot
paths checks `active()` first so that it builds no attributes for nothing:

    with span("events.publish", {"messaging.destination.name": topic}):
        ...
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

Attribute = str | bool | int | float


class SpanLike(Protocol):
    def set_attribute(self, key: str, value: Any) -> None: ...

    def update_name(self, name: str) -> None: ...


class _NoSpan:
    """Stands in for a span and its context manager when tracing is off."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def update_name(self, name: str) -> None:
        return None


_NO_SPAN = _NoSpan()
_tracer: Any = None


def use_tracer(tracer: Any) -> None:
    """Send spans to this OpenTelemetry tracer from now on (None: tracing off)."""
    global _tracer
    _tracer = tracer


def active() -> bool:
    return _tracer is not None


def tracer() -> Any:
    """The OpenTelemetry tracer in use, or None."""
    return _tracer


def span(
    name: str, attributes: Mapping[str, Attribute] | None = None
) -> AbstractContextManager[SpanLike]:
    """A span, current while the block runs (a child of the current one); records an
    exception that leaves the block."""
    if _tracer is None:
        return _NO_SPAN
    manager: AbstractContextManager[SpanLike] = _tracer.start_as_current_span(
        name, attributes=attributes
    )
    return manager

"""Reports each GraphQL operation: its span, its error codes, and the request's record.

Runs after `ErrorCodes` (extensions leave `on_operation` in list order), so the errors it
sees carry their final codes. An operation that never reaches execution (parse,
validation, limits) is "rejected"; its name is recorded, but metrics do not label by it.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from schema.errors import error_code
from telemetry import tracing
from telemetry.metrics import GRAPHQL_ERRORS
from telemetry.request import current_record


class ObserveOperations(SchemaExtension):
    def __init__(self) -> None:
        self._executed = False

    def on_execute(self) -> Iterator[None]:
        self._executed = True
        yield

    def on_operation(self) -> Iterator[None]:
        with tracing.span("graphql.operation") as span:
            try:
                yield
            finally:
                self._report(span)

    def _report(self, span: tracing.SpanLike) -> None:
        context = self.execution_context
        name = context.operation_name
        try:
            operation_type: str | None = context.operation_type.value
        except RuntimeError:  # the document did not parse
            operation_type = None
        result = context.result
        errors = (result.errors if result is not None else context.pre_execution_errors) or []
        codes = [error_code(error) for error in errors]
        for code in codes:
            GRAPHQL_ERRORS.labels(code).inc()
        outcome = "rejected" if not self._executed else "error" if codes else "success"
        record = current_record()
        if record is not None:
            record.operation_name = name
            record.operation_type = operation_type
            record.outcome = outcome
            record.error_codes.extend(codes)
        if tracing.active():
            span.update_name(f"{operation_type or 'graphql'} {name or ''}".rstrip())
            span.set_attribute("graphql.operation.name", name or "")
            span.set_attribute("graphql.operation.type", operation_type or "")
            span.set_attribute("storefront.outcome", outcome)
            if record is not None and record.cost is not None:
                span.set_attribute("storefront.query_cost", record.cost)
            if codes:
                span.set_attribute("storefront.error_codes", codes)

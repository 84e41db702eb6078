"""Every GraphQL error leaves with `extensions.code`; unexpected ones leave masked.

Errors raised on purpose (`resolvers.errors.ServiceError`) keep their message and get
their code. GraphQL's own errors (syntax, validation, variable coercion) get the usual
codes. Anything else is a bug or an outage: the client sees "Internal server error"
with INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE when the database is unreachable),
never a traceback, SQL or a path; the log has the details under the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext
from tortoise.exceptions import DBConnectionError, OperationalError

from resolvers.errors import ServiceError

logger = logging.getLogger("storefront.errors")

INTERNAL_MESSAGE = "Internal server error"
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly"
_UNAVAILABLE = (DBConnectionError, OperationalError, ConnectionError, TimeoutError, OSError)


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` a client sees for `error`."""
    original = error.original_error
    if isinstance(original, ServiceError):
        return original.code
    existing = (error.extensions or {}).get("code")
    if isinstance(existing, str):
        return existing
    if error.path is None and not isinstance(original, _UNAVAILABLE):
        # Raised before execution: the document or its variables are at fault.
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        if error.message.startswith("Variable "):
            return "BAD_USER_INPUT"
        return "GRAPHQL_VALIDATION_FAILED"
    if isinstance(original, _UNAVAILABLE):
        return "SERVICE_UNAVAILABLE"
    return "INTERNAL_SERVER_ERROR"


def is_unexpected(error: GraphQLError) -> bool:
    return error_code(error) in {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}


class ErrorCodes(MaskErrors):
    """Adds codes to every error and masks the unexpected ones."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._with_code(error) for error in errors]

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        code = error_code(error)
        message = error.message
        if code == "INTERNAL_SERVER_ERROR":
            message = INTERNAL_MESSAGE
        elif code == "SERVICE_UNAVAILABLE":
            message = UNAVAILABLE_MESSAGE
        extensions: dict[str, Any] = {**(error.extensions or {}), "code": code}
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions=extensions,
        )


def log_unexpected(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Log errors the client will see masked, with the request id to find them by."""
    context = getattr(execution_context, "context", None)
    request_id = getattr(context, "request_id", "-")
    for error in errors:
        if is_unexpected(error):
            logger.error(
                "request %s: %s at %s",
                request_id,
                error.message,
                error.path,
                exc_info=error.original_error,
            )

"""Every GraphQL error leaves with `extensions.code`; unexpected ones leave masked.

Errors raised on purpose (`resolvers.errors.ServiceError`) keep their message and get
their code. GraphQL's own errors (syntax, validation, variable coercion) get the usual
codes. Anything else is a bug or an outage: the client sees "Internal server error"
with INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE when the database is unreachable),
never a traceback, SQL or a path; the log has the details under the request id.

SERVICE_UNAVAILABLE ("try again shortly") is kept for real outages: the database cannot
be reached, a statement passed DATABASE_TIMEOUT, the database is locked. A statement the
database refuses (a value out of range, a broken constraint) is a bug on our side, not
an outage: INTERNAL_SERVER_ERROR, so that monitoring and retrying clients tell them apart.

One request writes a bounded log: a client's mistakes are not logged above DEBUG, an
outage is one WARNING line, and of many errors with the same cause only the first is
logged in full (with its traceback when it is a bug), then one line counts the rest.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from typing import Any

import asyncpg
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext
from tortoise.exceptions import DBConnectionError

from resolvers.errors import ServiceError

logger = logging.getLogger("storefront.errors")

INTERNAL_MESSAGE = "Internal server error"
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly"
_UNREACHABLE = (
    DBConnectionError,
    ConnectionError,
    TimeoutError,
    OSError,
    asyncpg.PostgresConnectionError,
    # The server cancelled the statement (statement_timeout), is shutting down, or is
    # starting up.
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# SQLite's OperationalError also covers bad SQL; these messages are the outages.
_SQLITE_OUTAGES = ("database is locked", "database table is locked", "unable to open", "disk I/O")


def is_outage(error: BaseException | None) -> bool:
    """Whether `error`, or an error it was raised from, means the database is unreachable
    or too slow, rather than that it refused a statement."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _UNREACHABLE):
            return True
        # asyncpg's own DataError (a value it cannot encode) is an InterfaceError too.
        if isinstance(error, asyncpg.InterfaceError) and not isinstance(error, ValueError):
            return True
        if isinstance(error, sqlite3.OperationalError) and str(error).startswith(_SQLITE_OUTAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` a client sees for `error`."""
    original = error.original_error
    if isinstance(original, ServiceError):
        return original.code
    existing = (error.extensions or {}).get("code")
    if isinstance(existing, str):
        return existing
    outage = is_outage(original)
    if error.path is None and not outage:
        # Raised before execution: the document or its variables are at fault.
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        if error.message.startswith("Variable "):
            return "BAD_USER_INPUT"
        return "GRAPHQL_VALIDATION_FAILED"
    if outage:
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


def log_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Log a request's errors, a bounded number of lines whatever their number.

    Errors are grouped by code and cause. A bug is logged once in full, with its
    traceback, for each cause; an outage once, as a warning, without one; the client's
    own mistakes only at DEBUG. Repeats of a cause end in one line that counts them.
    """
    context = getattr(execution_context, "context", None)
    request_id = getattr(context, "request_id", "-")
    groups: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], GraphQLError] = {}
    for error in errors:
        code = error_code(error)
        cause = type(error.original_error).__name__ if error.original_error else error.message
        key = (code, cause)
        groups[key] += 1
        first.setdefault(key, error)
    for (code, cause), count in groups.items():
        error = first[(code, cause)]
        more = f" (and {count - 1} more like it)" if count > 1 else ""
        if code == "INTERNAL_SERVER_ERROR":
            logger.error(
                "request %s: %s at %s%s",
                request_id,
                error.message or cause,
                error.path,
                more,
                exc_info=error.original_error,
            )
        elif code == "SERVICE_UNAVAILABLE":
            logger.warning(
                "request %s: the database is unavailable (%s: %s) at %s%s",
                request_id,
                cause,
                error.message or "no answer in time",
                error.path,
                more,
            )
        else:
            logger.debug("request %s: %d error(s) %s: %s", request_id, count, code, error.message)

"""Errors that end a field with a GraphQL error rather than a typed `userErrors` entry.

Resolvers, permission checks and the request context raise them; schema/errors.py keeps
their message and sends their `code` as `extensions.code`.
"""


class ServiceError(Exception):
    """A refusal or failure raised on purpose, not a bug: the client sees its message, and
    `code` becomes the error's `extensions.code`."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadUserInput(ServiceError):
    code = "BAD_USER_INPUT"


class NotFound(ServiceError):
    code = "NOT_FOUND"


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"


class Forbidden(ServiceError):
    code = "FORBIDDEN"


class ServiceUnavailable(ServiceError):
    code = "SERVICE_UNAVAILABLE"

"""Errors the business rules raise; the schema layer turns each into `extensions.code`."""


class ServiceError(Exception):
    """A problem that is not the user's data; `code` becomes the GraphQL error's code."""

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

"""Why a request's credentials were refused. The GraphQL layer maps `AuthenticationError`
to UNAUTHENTICATED and `IdentityProviderUnavailable` to SERVICE_UNAVAILABLE."""


class AuthenticationError(Exception):
    """The request carries credentials we refuse; the message says why (safe to show)."""


class MalformedAuthorization(AuthenticationError):
    """The Authorization header is not `Bearer <token>`."""


class InvalidToken(AuthenticationError):
    """The bearer token is malformed, forged, expired, revoked or not meant for us."""


class IdentityProviderUnavailable(Exception):
    """The external identity provider's keys could not be fetched and none are cached."""

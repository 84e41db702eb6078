"""The scopes a token can carry, and who may have which.

README.md's "Signing in" table says what each lets the bearer do. A user's token never
carries a staff-only scope unless the user is staff (the server drops it, and says so in
the token response's `scope`). A `client_credentials` token carries the scopes its client
was created with, staff-only ones included.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    """A scope; its value is the word on the wire (in `scope` parameters and claims)."""

    PROFILE = "profile"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    REVIEWS_WRITE = "reviews:write"
    CATALOG_WRITE = "catalog:write"
    ORDERS_MANAGE = "orders:manage"


# What the sign-in page shows for each scope; every scope has a line.
SCOPES: dict[str, str] = {
    Scope.PROFILE: "Read your account",
    Scope.ORDERS_READ: "Read your orders",
    Scope.ORDERS_WRITE: "Place and cancel your orders",
    Scope.REVIEWS_WRITE: "Write reviews",
    Scope.CATALOG_WRITE: "Change the catalog (staff)",
    Scope.ORDERS_MANAGE: "Manage every order (staff)",
}
STAFF_SCOPES = frozenset({Scope.CATALOG_WRITE, Scope.ORDERS_MANAGE})


class BadScopes(ValueError):
    """Scopes asked for that don't exist, or none at all."""


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """Space-separated scopes, duplicates dropped, order kept; BadScopes unless there is
    at least one and all are known."""
    scopes = tuple(dict.fromkeys((text or "").split()))
    if not scopes:
        raise BadScopes("give at least one scope")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise BadScopes(f"unknown scope {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    return scopes


def allowed_for(scopes: Iterable[str], *, is_staff: bool) -> tuple[str, ...]:
    """`scopes` without those the holder may not have."""
    return tuple(scope for scope in scopes if is_staff or scope not in STAFF_SCOPES)


def format_scopes(scopes: Iterable[str]) -> str:
    return " ".join(scopes)

"""The scopes a token can carry, and who may have which.

| scope           | lets the bearer                                   | who        |
|-----------------|---------------------------------------------------|------------|
| `profile`       | read their own account (`me`, `User.email`)        | anyone     |
| `orders:read`   | read their own orders (`orders`, `order`)          | anyone     |
| `reviews:write` | `addReview`                                        | anyone     |
| `orders:write`  | `placeOrder`, `cancelOrder`                        | anyone     |
| `catalog:write` | `createProduct`, `updateProduct`, `deleteProduct`  | staff only |
| `orders:manage` | `updateOrderStatus`, read every order              | staff only |

A user's token never carries a staff scope unless the user is staff (the server drops
it, and says so in the token response's `scope`). A `client_credentials` token carries
the scopes its client was created with.
"""

from __future__ import annotations

from collections.abc import Iterable

SCOPES: dict[str, str] = {
    "profile": "Read your account",
    "orders:read": "Read your orders",
    "reviews:write": "Write reviews",
    "orders:write": "Place and cancel your orders",
    "catalog:write": "Change the catalog (staff)",
    "orders:manage": "Manage every order (staff)",
}
STAFF_SCOPES = frozenset({"catalog:write", "orders:manage"})


class UnknownScope(ValueError):
    pass


def parse_scopes(text: str | None) -> tuple[str, ...]:
    """Space-separated scopes, known ones only, duplicates dropped, order kept."""
    scopes = tuple(dict.fromkeys((text or "").split()))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise UnknownScope(f"unknown scope {', '.join(unknown)} (known: {', '.join(SCOPES)})")
    return scopes


def allowed_for(scopes: Iterable[str], *, is_staff: bool) -> tuple[str, ...]:
    """`scopes` without those the holder may not have."""
    return tuple(scope for scope in scopes if is_staff or scope not in STAFF_SCOPES)


def format_scopes(scopes: Iterable[str]) -> str:
    return " ".join(scopes)

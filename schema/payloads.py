"""What every mutation returns: its objects, and `userErrors` for problems to fix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from resolvers.problems import Problem, ProblemCode, Rejected
from schema.enums import described_enum
from schema.prefetch import prefetched

UserErrorCode = described_enum(
    ProblemCode,
    "Why the input was refused.",
    {
        "INVALID": "The value has the wrong form: a SKU, slug or currency code off its "
        "pattern, a price below zero or with more than two decimals, control characters in "
        "text.",
        "REQUIRED": "A required value is missing or blank (only spaces or invisible "
        "characters), or an order has no items.",
        "TOO_LONG": "Text over its limit: SKU 64, name 200, description 10,000, review 5,000, "
        "idempotency key 128 characters.",
        "OUT_OF_RANGE": "A number out of its range: stock 0 to 1,000,000,000, quantity 1 to "
        "1000, 1 to 50 items per order, an order total too large.",
        "NOT_FOUND": "The ID names no product, category or order (someone else's order "
        "counts as none).",
        "DUPLICATE_SKU": "Another product has this SKU.",
        "DUPLICATE_SLUG": "Another product has this slug.",
        "INVALID_RATING": "A rating outside 1 to 5.",
        "ALREADY_REVIEWED": "You have reviewed this product already.",
        "OUT_OF_STOCK": "Fewer units in stock than this item's quantity; nothing was ordered.",
        "DUPLICATE_PRODUCT": "The product is in another item of the same order: order its "
        "whole quantity in one item.",
        "PRODUCT_UNAVAILABLE": "The product cannot be ordered: it is priced in another "
        "currency than the store's.",
        "INVALID_STATUS_TRANSITION": "The order cannot take that status: statuses only move "
        "forward, and only PENDING or PAID orders can be cancelled.",
        "LIMIT_EXCEEDED": "The order would take the units you hold in unpaid orders past "
        "MAX_UNITS_HELD_PER_CUSTOMER (100 by default): pay for or cancel an order, or wait "
        "for a hold to end.",
    },
    name="UserErrorCode",
)

# Every payload's `userErrors`.
USER_ERRORS = (
    "Problems with the input that the user can fix; empty when the mutation succeeded. "
    "When not empty, nothing was written."
)

P = TypeVar("P")
R = TypeVar("R")


@strawberry.type(description="A problem with the input that the user can fix.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path of the input field at fault, from the argument down, e.g. ["input", '
        '"items", "0", "quantity"]; null when no one field is at fault.'
    )
    message: str = strawberry.field(
        description="What is wrong and how to fix it, in English, for people: show it, but "
        "let programs branch on `code`."
    )
    code: UserErrorCode = strawberry.field(  # type: ignore[valid-type]
        description="What kind of problem, for programs."
    )


def user_error(problem: Problem) -> UserError:
    return UserError(
        field=list(problem.field) if problem.field else None,
        message=problem.message,
        code=problem.code,
    )


async def mutation_payload(
    info: Info, cls: Callable[..., P], work: Awaitable[R], fields: Callable[[R], dict[str, Any]]
) -> P:
    """Run a mutation's rules: its payload with `fields(result)`, prefetched for the
    selection; or, when the rules rejected the input, empty with the `userErrors`."""
    try:
        result = await work
    except Rejected as rejected:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        empty = {f.python_name: None for f in definition.fields if f.python_name != "user_errors"}
        return cls(**empty, user_errors=[user_error(problem) for problem in rejected.problems])
    # Rows the loaders hold may predate this mutation's writes (the mutation itself, or
    # an earlier one of the same document, read them): the payload reads afresh.
    info.context.loaders.clear()
    built = cls(**fields(result), user_errors=[])
    await prefetched(info, [built])
    return built

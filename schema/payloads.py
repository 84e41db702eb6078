"""What every mutation returns: its objects, and `userErrors` for problems to fix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from resolvers.problems import Problem, ProblemCode, Rejected
from schema.prefetch import prefetched

UserErrorCode = strawberry.enum(
    ProblemCode, name="UserErrorCode", description="Why the input was refused."
)

P = TypeVar("P")
R = TypeVar("R")


@strawberry.type(description="A problem with the input that the user can fix.")
class UserError:
    field: list[str] | None = strawberry.field(description="Path of the input field at fault.")
    message: str
    code: UserErrorCode  # type: ignore[valid-type]


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

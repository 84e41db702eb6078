"""Problems the user can fix, reported as `userErrors` in mutation payloads.

A business rule that finds one raises `Rejected` inside the mutation's transaction, so
nothing it wrote so far is kept; the schema turns the problems into `UserError`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ProblemCode(StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE_SKU = "DUPLICATE_SKU"
    DUPLICATE_SLUG = "DUPLICATE_SLUG"
    INVALID_RATING = "INVALID_RATING"
    ALREADY_REVIEWED = "ALREADY_REVIEWED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    DUPLICATE_PRODUCT = "DUPLICATE_PRODUCT"
    PRODUCT_UNAVAILABLE = "PRODUCT_UNAVAILABLE"
    INVALID_STATUS_TRANSITION = "INVALID_STATUS_TRANSITION"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


@dataclass(frozen=True)
class Problem:
    """One fixable problem; `field` is the path of the input field it concerns."""

    field: tuple[str, ...] | None
    message: str
    code: ProblemCode


class Rejected(Exception):
    """Raised by a rule to abort a mutation with problems the user can fix."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = list(problems)


def reject(field: Sequence[str] | None, message: str, code: ProblemCode) -> Rejected:
    """A `Rejected` with one problem, to raise."""
    return Rejected([Problem(tuple(field) if field else None, message, code)])


def check_text(
    value: str | None,
    field: Sequence[str],
    *,
    max_length: int,
    required: bool = True,
) -> list[Problem]:
    """Problems of a free-text input: missing (blank) or too long."""
    path = tuple(field)
    if value is None or not value.strip():
        if required:
            return [Problem(path, f"`{path[-1]}` must not be blank", ProblemCode.REQUIRED)]
        return []
    if len(value) > max_length:
        return [
            Problem(
                path,
                f"`{path[-1]}` must be at most {max_length} characters",
                ProblemCode.TOO_LONG,
            )
        ]
    return []

"""Problems the user can fix, reported as `userErrors` in mutation payloads.

A business rule that finds one raises `Rejected` inside the mutation's transaction, so
nothing it wrote so far is kept; the schema turns the problems into `UserError`s.
"""

from __future__ import annotations

import unicodedata
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


# Explicit bidirectional embeddings, overrides and isolates: they make a name display
# as something other than what it is ("Trojan Source").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\t")


def _is_blank(character: str) -> bool:
    """Whitespace, or a character that shows nothing (zero-width space, joiner, BOM)."""
    return character.isspace() or unicodedata.category(character) == "Cf"


def _forbidden_character(value: str, *, multiline: bool) -> str | None:
    for character in value:
        if character in _BIDI_CONTROLS:
            return character
        if unicodedata.category(character) == "Cc" and not (
            multiline and character in _LINE_BREAKS
        ):
            return character
    return None


def check_text(
    value: str | None,
    field: Sequence[str],
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> list[Problem]:
    """Problems of a free-text input: missing, blank (only whitespace or invisible
    characters), too long, or holding control characters or bidirectional overrides.
    Only `multiline` text (a description, a review) may hold line breaks and tabs; text
    that is not `required` may be empty."""
    path = tuple(field)
    name = path[-1]
    if value is None or value == "":
        if required:
            return [Problem(path, f"`{name}` must not be blank", ProblemCode.REQUIRED)]
        return []
    if len(value) > max_length:
        return [
            Problem(path, f"`{name}` must be at most {max_length} characters", ProblemCode.TOO_LONG)
        ]
    if all(_is_blank(character) for character in value):
        message = f"`{name}` must hold visible characters, not only spaces or invisible ones"
        return [Problem(path, message, ProblemCode.REQUIRED if required else ProblemCode.INVALID)]
    forbidden = _forbidden_character(value, multiline=multiline)
    if forbidden is not None:
        allowed = " (line breaks and tabs are allowed)" if multiline else ""
        message = (
            f"`{name}` must not hold control or bidirectional formatting characters such as "
            f"U+{ord(forbidden):04X}{allowed}"
        )
        return [Problem(path, message, ProblemCode.INVALID)]
    return []

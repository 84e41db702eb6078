"""What any input may hold, checked once for every field before anything runs.

No text may hold a NUL character: PostgreSQL cannot store one and refuses the statement,
which would otherwise surface as a server fault. A `Decimal` must be a finite number of
sane size: "1e999999" parses, but overflows the first arithmetic done with it. Checks
that depend on the field (names, SKUs, reviews) are business rules, in `resolvers/`.
The two scalars get descriptions here that give their units.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension
from strawberry.schema.types.base_scalars import DateTimeDefinition, DecimalDefinition

# Far beyond any price (amounts are bounded again where they are used), far below what
# makes decimal arithmetic overflow or crawl.
MAX_DECIMAL_DIGITS = 40
MAX_DECIMAL_EXPONENT = 40


def _parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f'Decimal must be a string such as "19.99", got {value!r}')
    text = str(value)
    try:
        number = decimal.Decimal(text)
    except decimal.DecimalException:
        raise ValueError(f'Decimal must be a number such as "19.99", got {text[:64]!r}') from None
    if (
        not number.is_finite()
        or len(number.as_tuple().digits) > MAX_DECIMAL_DIGITS
        or abs(number.adjusted()) > MAX_DECIMAL_EXPONENT
    ):
        raise ValueError(
            f"Decimal must be a finite number of at most {MAX_DECIMAL_DIGITS} digits "
            f"and magnitude below 1e{MAX_DECIMAL_EXPONENT}, got {text[:64]!r}"
        )
    return number


DECIMAL = dataclasses.replace(
    DecimalDefinition,
    parse_value=_parse_decimal,
    description='A decimal number as a string, e.g. "19.99", so that no precision is lost: '
    "read and compute it as a decimal, not a float. In inputs, send a string of at most "
    f"{MAX_DECIMAL_DIGITS} digits.",
)
DATE_TIME = dataclasses.replace(
    DateTimeDefinition,
    description='A point in time, ISO 8601 in UTC, e.g. "2026-11-30T17:45:12.345678+00:00" '
    "(the fraction of a second is left out when zero).",
)
SCALAR_OVERRIDES: dict[object, Any] = {decimal.Decimal: DECIMAL, datetime.datetime: DATE_TIME}


def _nul_path(value: Any, path: str) -> str | None:
    """Where in a variable's JSON value a string holds a NUL character, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        items: Iterator[tuple[str, Any]] = ((f"{path}.{key}", item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return None
    for item_path, item in items:
        found = _nul_path(item, item_path)
        if found is not None:
            return found
    return None


def _may_hold_nul(source: str | None) -> bool:
    return source is None or "\x00" in source or "\\u" in source


class _NulLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


def nul_character_error(
    variables: dict[str, Any] | None, document: Any, source: str | None
) -> GraphQLError | None:
    """BAD_USER_INPUT when any string of the request holds a NUL character."""
    where = _nul_path(variables or {}, "$")
    # A literal holds a NUL only if the source does, raw or as a \u escape: without
    # either, the walk over the document (a share of a listing's CPU that `benchmarks.run`
    # shows) is skipped.
    if where is None and document is not None and _may_hold_nul(source):
        literals = _NulLiterals()
        visit(document, literals)
        where = "a string literal of the document" if literals.found else None
    if where is None:
        return None
    return GraphQLError(
        f"Text may not hold a NUL character (U+0000); remove it from {where}",
        extensions={"code": "BAD_USER_INPUT"},
    )


class RefuseNulCharacters(SchemaExtension):
    """Refuses a request whose variables or literals hold a NUL character, before it runs.

    A document already refused (by `QueryLimits`, placed before it) is left as it is.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            error = nul_character_error(context.variables, context.graphql_document, context.query)
            if error is not None:
                context.pre_execution_errors = [error]
        yield

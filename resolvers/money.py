"""Money: integer minor units in storage, decimals at the edges."""

from __future__ import annotations

from decimal import Decimal, DecimalException, InvalidOperation

from resolvers.errors import BadUserInput

MINOR_DIGITS = 2
_SCALE = Decimal(10) ** MINOR_DIGITS


def from_minor(amount: int) -> Decimal:
    return Decimal(amount).scaleb(-MINOR_DIGITS)


def to_minor(amount: Decimal, field: str) -> int:
    """Minor units of a non-negative decimal with at most two places, or BAD_USER_INPUT."""
    try:
        minor = amount * _SCALE
        if not amount.is_finite() or amount < 0 or minor != minor.to_integral_value():
            raise InvalidOperation
    except DecimalException:
        raise BadUserInput(
            f"`{field}` must be a non-negative amount with at most {MINOR_DIGITS} decimals"
        ) from None
    if minor > 10**15:
        raise BadUserInput(f"`{field}` is too large")
    return int(minor)

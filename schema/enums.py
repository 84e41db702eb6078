"""GraphQL enums over enums of lower layers (models, resolvers), with their values described.

Those enums cannot hold `strawberry.enum_value` (models and resolvers know no GraphQL), so
the descriptions of their values are given where the schema declares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=type[Enum])


def described_enum(
    cls: E, description: str, values: Mapping[str, str], *, name: str | None = None
) -> E:
    """`strawberry.enum(cls)`, with `values` describing each of its values by name."""
    declared = strawberry.enum(cls, name=name, description=description)
    definition = declared.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    if names != set(values):
        raise ValueError(f"Describe exactly the values of {cls.__name__}: {sorted(names)}")
    for value in definition.values:
        value.description = values[value.name]
    return declared

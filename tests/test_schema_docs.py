"""The schema describes itself: every type, field, argument, input field and enum value of
ours carries a description, which is what GraphiQL and a frontend developer read.

What is not ours, and so exempt:
- GraphQL's own: introspection types (`__Type`, ...), the built-in scalars (`String`, `Int`,
  `Float`, `Boolean`, `ID`) and the specified directives (`@include`, `@skip`, ...);
- federation's, added by Strawberry: types and fields whose names start with `_` or hold
  `__` (`_Service`, `_Entity`, `_Any`, `_FieldSet`, `link__Import`, `Query._entities`,
  `Query._service`; GraphQL reserves such names, ours never use them) and the federation
  directives (`@key`, `@link`, ...).
`DateTime` and `Decimal` are ours: they carry the units (ISO 8601 UTC, decimal strings).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    GraphQLArgument,
    GraphQLDirective,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    is_introspection_type,
    is_specified_directive,
    is_specified_scalar_type,
)

from schema import schema

FEDERATION_DIRECTIVES = frozenset(
    {
        "authenticated",
        "composeDirective",
        "context",
        "cost",
        "external",
        "fromContext",
        "inaccessible",
        "interfaceObject",
        "key",
        "link",
        "listSize",
        "override",
        "policy",
        "provides",
        "requires",
        "requiresScopes",
        "shareable",
        "tag",
    }
)


def _federation_name(name: str) -> bool:
    return name.startswith("_") or "__" in name


def _our_types() -> list[GraphQLNamedType]:
    return [
        type_
        for name, type_ in sorted(schema._schema.type_map.items())
        if not is_introspection_type(type_)
        and not is_specified_scalar_type(type_)
        and not _federation_name(name)
    ]


def _our_directives() -> list[GraphQLDirective]:
    return [
        directive
        for directive in schema._schema.directives
        if not is_specified_directive(directive) and directive.name not in FEDERATION_DIRECTIVES
    ]


def _arguments(owner: str, arguments: dict[str, GraphQLArgument]) -> Iterator[tuple[str, str]]:
    for name, argument in arguments.items():
        yield f"{owner}({name}:)", argument.description or ""


def _described_parts() -> Iterator[tuple[str, str]]:
    """(coordinate, description) of every part of the schema that is ours."""
    for type_ in _our_types():
        yield type_.name, type_.description or ""
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in type_.fields.items():
                if _federation_name(name):
                    continue
                yield f"{type_.name}.{name}", field.description or ""
                yield from _arguments(f"{type_.name}.{name}", field.args)
        elif isinstance(type_, GraphQLInputObjectType):
            for name, input_field in type_.fields.items():
                yield f"{type_.name}.{name}", input_field.description or ""
        elif isinstance(type_, GraphQLEnumType):
            for name, value in type_.values.items():
                yield f"{type_.name}.{name}", value.description or ""
    for directive in _our_directives():
        yield f"@{directive.name}", directive.description or ""
        yield from _arguments(f"@{directive.name}", directive.args)


def test_the_walk_sees_every_kind_of_part() -> None:
    """Guards the test itself: a walk that missed arguments, input fields or enum values
    would pass on an undescribed schema."""
    coordinates = {coordinate for coordinate, _ in _described_parts()}
    assert {
        "Product",
        "Product.price",
        "Product.reviews(first:)",
        "Query.products(filter:)",
        "ProductFilter.search",
        "OrderStatus.PENDING",
        "Node.id",
        "DateTime",
        "Decimal",
    } <= coordinates
    assert not {"String", "_Service", "Query._entities", "__Type", "link__Import"} & coordinates


def test_every_part_of_the_schema_is_described() -> None:
    parts = list(_described_parts())
    missing = [coordinate for coordinate, description in parts if not description.strip()]
    assert not missing, (
        f"{len(missing)} of {len(parts)} parts of the schema have no description:\n"
        + "\n".join(missing)
    )

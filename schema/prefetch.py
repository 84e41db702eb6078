"""Load, level by level, every relation a query selects below a list.

A list resolver (say `products`) hands its page and its selection here. For each type in
the page, each selected field that has a prefetcher loads that relation for the whole
level at once through the request's DataLoaders (one statement per relation per level),
and stores the result on the objects; then the walk goes one level down. The fields
themselves then resolve synchronously from what is stored, so graphql-core finishes the
list without an awaitable (and an asyncio task) per item. A field that finds nothing
stored (reached another way, or its arguments were invalid) loads for itself, through
the same DataLoaders, and reports its own errors at its own path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from resolvers.errors import ServiceError
from resolvers.pagination import PageArgs
from schema.relay import page_args

# (request context, parents, page arguments or None) -> one value per parent.
Batch = Callable[[Any, list[Any], PageArgs | None], Awaitable[list[Any]]]

_RELATIONS: dict[tuple[type, str], tuple[Batch, bool]] = {}


def relation(cls: type, field: str, batch: Batch, *, paged: bool = False) -> None:
    """Register `batch` as how GraphQL field `field` of `cls` loads for many parents.

    Objects of `cls` keep what was loaded in their `prefetched` dict, keyed by the field
    and, for `paged` fields (connections), the page arguments.
    """
    _RELATIONS[(cls, field)] = (batch, paged)


def resolve(obj: Any, context: Any, field: str, args: PageArgs | None = None) -> Any:
    """A relation of one object: the prefetched value, or an awaitable that loads it."""
    key = (field, args)
    if key in obj.prefetched:
        return obj.prefetched[key]
    batch, _ = _RELATIONS[(type(obj), field)]
    return _single(batch(context, [obj], args))


async def _single(values: Awaitable[list[Any]]) -> Any:
    return (await values)[0]


async def _prefetch_relation(
    context: Any, batch: Batch, paged: bool, parents: list[Any], field: SelectedField
) -> list[Any]:
    args = page_args(field.arguments) if paged else None
    values = await batch(context, parents, args)
    children: list[Any] = []
    for parent, value in zip(parents, values, strict=True):
        parent.prefetched[(field.name, args)] = value
        if isinstance(value, list):
            children.extend(value)
        elif value is not None:
            children.append(value)
    return children


async def prefetch(context: Any, objects: Sequence[Any], selections: list[Selection]) -> None:
    """Prefetch what `selections` needs below `objects` (all from one field)."""
    by_type: dict[type, list[Any]] = {}
    for item in objects:
        by_type.setdefault(type(item), []).append(item)
    jobs = [
        _descend(context, cls, group, field)
        for cls, group in by_type.items()
        for field in _fields(cls, selections)
    ]
    if jobs:
        await asyncio.gather(*jobs)


async def _descend(context: Any, cls: type, parents: list[Any], field: SelectedField) -> None:
    registered = _RELATIONS.get((cls, field.name))
    if registered is not None:
        try:
            children = await _prefetch_relation(context, *registered, parents, field)
        except ServiceError:
            return
    else:
        children = list(_attribute_children(cls, parents, field.name))
    if children:
        await prefetch(context, children, field.selections)


def _attribute_children(cls: type, parents: list[Any], graphql_name: str) -> Iterable[Any]:
    python_name = _python_names(cls).get(graphql_name)
    if python_name is None:
        return
    for parent in parents:
        value = getattr(parent, python_name, None)
        if isinstance(value, list):
            yield from (item for item in value if hasattr(item, "__strawberry_definition__"))
        elif hasattr(value, "__strawberry_definition__"):
            yield value


_NAMES: dict[type, dict[str, str]] = {}


def _python_names(cls: type) -> dict[str, str]:
    names = _NAMES.get(cls)
    if names is None:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        names = {
            field.graphql_name or field.python_name: field.python_name
            for field in definition.fields
            if field.base_resolver is None
        }
        _NAMES[cls] = names
    return names


def _fields(cls: type, selections: list[Selection]) -> Iterable[SelectedField]:
    """The selected fields with sub-selections that apply to `cls`, fragments expanded."""
    type_names = _type_names(cls)
    for selection in selections:
        if _skipped(selection):
            continue
        if isinstance(selection, SelectedField):
            if selection.selections:
                yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment) and (
            selection.type_condition is None or selection.type_condition in type_names
        ):
            yield from _fields(cls, selection.selections)


def _skipped(selection: Selection) -> bool:
    directives = selection.directives
    return bool(directives.get("skip", {}).get("if")) or (
        "include" in directives and not directives["include"].get("if")
    )


def _type_names(cls: type) -> set[str]:
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    return {definition.name, *(interface.name for interface in definition.interfaces)}

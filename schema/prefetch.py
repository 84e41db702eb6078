"""Load, level by level, every relation a query selects, before graphql-core walks it.

Each root field (`products`, `product`, `node`, `_entities`, ...) hands the objects it
found and its selection to `prefetch`. For each type among them, each selected relation
loads for the whole level at once, through the request's DataLoaders (one statement per
relation per level), and is stored on the objects; then the walk goes one level down.

Relations without arguments are plain attributes of the GraphQL objects: graphql-core
reads them like any scalar, with no resolver call, no awaitable and no asyncio task per
item. A relation that was not prefetched holds `NOT_LOADED`, which graphql-core rejects
as an internal error: every root field must prefetch (the tests go through each one).
Connections (fields with page arguments) keep a resolver that finds the page stored for
its arguments, or loads it itself, reporting bad arguments at its own path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from aiodataloader import DataLoader
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from resolvers.errors import ServiceError
from resolvers.pagination import Page, PageArgs
from schema.relay import Connection, connection, page_args

T = TypeVar("T")

# (request context, parents, page arguments or None) -> one value per parent.
Batch = Callable[[Any, list[Any], PageArgs | None], Awaitable[list[Any]]]

NOT_LOADED: Any = type("NotLoaded", (), {"__repr__": lambda self: "NOT_LOADED"})()

_RELATIONS: dict[tuple[type, str], tuple[Batch, bool]] = {}


def relation(cls: type, field: str, batch: Batch, *, paged: bool = False) -> None:
    """Register `batch` as how GraphQL field `field` of `cls` loads for many parents.

    A plain relation is stored in the attribute of the same field; a `paged` one
    (a connection) in the object's `prefetched` dict, keyed by field and page arguments.
    """
    _RELATIONS[(cls, field)] = (batch, paged)


def paged_relation(cls: type, field: str) -> bool:
    """Whether GraphQL field `field` of `cls` is a connection that prefetch stores."""
    registered = _RELATIONS.get((cls, field))
    return registered is not None and registered[1]


def page_key(field: str, arguments: Mapping[str, Any]) -> tuple[str, PageArgs]:
    """The key a connection's page is stored under, from its field's arguments."""
    return field, page_args(arguments)


def stored_page(obj: Any, key: tuple[str, PageArgs]) -> Any:
    """The page prefetch stored on `obj` under `key`, or NOT_LOADED."""
    return getattr(obj, "prefetched", {}).get(key, NOT_LOADED)


def resolve_page(obj: Any, context: Any, field: str, args: PageArgs) -> Any:
    """A connection of one object: the prefetched page, or an awaitable that loads it."""
    key = (field, args)
    if key in obj.prefetched:
        return obj.prefetched[key]
    batch, _ = _RELATIONS[(type(obj), field)]
    return _single(batch(context, [obj], args))


async def _single(values: Awaitable[list[Any]]) -> Any:
    return (await values)[0]


async def by_pk(
    loader: DataLoader[int, Any], pks: Sequence[int | None], to_node: Callable[[Any], T]
) -> list[T | None]:
    """The object of each key (None for None or a missing row), in one batch.

    Parents that share a key share its object: a listing's 100 products have a handful
    of categories, so each category is made, prefetched below and walked once.
    """
    wanted = list(dict.fromkeys(pk for pk in pks if pk is not None))
    rows = await loader.load_many(wanted)
    made = {pk: None if row is None else to_node(row) for pk, row in zip(wanted, rows, strict=True)}
    return [None if pk is None else made[pk] for pk in pks]


def selects(info: Info, field_name: str) -> bool:
    """Whether the current field's selection asks for `field_name` (fragments included)."""
    return _asks_for(info.selected_fields[0].selections, field_name)


def _asks_for(selections: list[Selection], field_name: str) -> bool:
    pending = list(selections)
    while pending:
        selection = pending.pop()
        if _skipped(selection):
            continue
        if isinstance(selection, SelectedField):
            if selection.name == field_name:
                return True
        else:
            pending.extend(selection.selections)
    return False


async def prefetched(info: Info, objects: Sequence[Any]) -> None:
    """Prefetch what the current root field selects below `objects`."""
    await prefetch(info.context, objects, info.selected_fields[0].selections)


async def prefetched_object(info: Info, row: Any, to_node: Callable[[Any], T]) -> T | None:
    """A root field's object made from `row` (None stays None), prefetched."""
    if row is None:
        return None
    found = to_node(row)
    await prefetched(info, [found])
    return found


async def prefetched_connection(
    info: Info, page: Page[Any], to_node: Callable[[Any], T]
) -> Connection[T]:
    """A root field's connection made from `page`, prefetched."""
    found = connection(page, to_node)
    await prefetched(info, [found])
    return found


async def _prefetch_relation(
    context: Any, cls: type, batch: Batch, paged: bool, parents: list[Any], field: SelectedField
) -> list[Any]:
    """Load one relation for the parents that lack it; return every parent's children.

    A field selected twice (under two aliases) loads once and is walked for both.
    """
    if paged:
        key = page_key(field.name, field.arguments)
        args: PageArgs | None = replace(key[1], total=_asks_for(field.selections, "totalCount"))
        missing = [parent for parent in parents if _lacks(parent, key, args)]
        for parent, value in zip(missing, await batch(context, missing, args), strict=True):
            parent.prefetched[key] = value
        values = [parent.prefetched[key] for parent in parents]
    else:
        attribute = _python_names(cls)[field.name]
        missing = [parent for parent in parents if getattr(parent, attribute) is NOT_LOADED]
        if missing:
            loaded = await batch(context, missing, None)
            for parent, value in zip(missing, loaded, strict=True):
                setattr(parent, attribute, value)
        values = [getattr(parent, attribute) for parent in parents]
    children: dict[int, Any] = {}  # by identity: parents may share a child
    for value in values:
        if isinstance(value, list):
            children.update((id(child), child) for child in value)
        elif value is not None:
            children[id(value)] = value
    return list(children.values())


def _lacks(parent: Any, key: tuple[str, PageArgs], args: PageArgs | None) -> bool:
    """Whether `parent` has no page under `key`, or one without the count `args` want."""
    stored = parent.prefetched.get(key)
    return stored is None or (args is not None and args.total and not stored.page_info.page.counted)


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
    if len(jobs) == 1:
        await jobs[0]  # no task needed
    elif jobs:
        await asyncio.gather(*jobs)


async def _descend(context: Any, cls: type, parents: list[Any], field: SelectedField) -> None:
    registered = _RELATIONS.get((cls, field.name))
    if registered is not None:
        try:
            children = await _prefetch_relation(context, cls, *registered, parents, field)
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

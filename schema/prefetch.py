"""Load, level by level, every relation a query selects, before graphql-core walks it.

Each root field (`products`, `product`, `node`, `_entities`, mutations' payloads, ...)
hands the objects it found and its selection to `prefetch`. For each type among them,
each selected relation (`schema.relations`) loads for the whole level at once, through
the request's DataLoaders (one statement per relation per level), and is stored on the
objects; then the walk goes one level down.

graphql-core then finds every value stored, and `schema.execution` completes them
without calling a resolver. A relation that was not prefetched still answers: its field's
resolver loads it, batched with its siblings by the DataLoaders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from resolvers.errors import ServiceError
from resolvers.pagination import Page, PageArgs
from schema.relations import PagedRelation, Relation, graphql_name, relations_of
from schema.relay import Connection, connection

T = TypeVar("T")


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
    context: Any, relation: Relation | PagedRelation, parents: list[Any], field: SelectedField
) -> list[Any]:
    """Load one relation for the parents that lack it; return every parent's children.

    A field selected twice (under two aliases) loads once and is walked for both.
    """
    if isinstance(relation, PagedRelation):
        key = relation.page_key(field.arguments)
        args = replace(key[1], total=_asks_for(field.selections, "totalCount"))
        missing = [parent for parent in parents if _lacks(parent, key, args)]
        if missing:
            for parent, value in zip(
                missing, await relation.load(context, missing, args), strict=True
            ):
                parent.prefetched[key] = value
        values = [parent.prefetched[key] for parent in parents]
    else:
        missing = [parent for parent in parents if relation not in parent.prefetched]
        if missing:
            for parent, value in zip(missing, await relation.load(context, missing), strict=True):
                parent.prefetched[relation] = value
        values = [parent.prefetched[relation] for parent in parents]
    children: dict[int, Any] = {}  # by identity: parents may share a child
    for value in values:
        if isinstance(value, list):
            children.update((id(child), child) for child in value)
        elif value is not None:
            children[id(value)] = value
    return list(children.values())


def _lacks(parent: Any, key: tuple[PagedRelation, PageArgs], args: PageArgs) -> bool:
    """Whether `parent` has no page under `key`, or one without the count `args` want."""
    stored = parent.prefetched.get(key)
    return stored is None or (args.total and not stored.page_info.page.counted)


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
    relation = relations_of(cls).get(field.name)
    if relation is not None:
        try:
            children = await _prefetch_relation(context, relation, parents, field)
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
        names = {graphql_name(field): field.python_name for field in definition.fields}
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

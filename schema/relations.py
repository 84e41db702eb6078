"""Relations: fields whose values load for many parents at once, each declared once.

A relation is declared as its field, in the type's class: `relation(load)` for an object
or a list of objects, `paged_relation(children, node)` for a connection. The declaration
(a `Relation` or `PagedRelation`, kept in the field's metadata) is what

- `schema.prefetch` calls to load a whole level of a query at once, before graphql-core
  walks it: one statement per relation and level;
- the field's resolver falls back on when nothing prefetched the value (a root field that
  does not prefetch): it loads through the request's DataLoaders, which batch the calls
  of sibling objects into one statement;
- `schema.execution` reads to complete a stored value without calling the resolver;
- the tests walk to prove that each relation costs one statement per level.

Values are stored in each object's `prefetched` dict: under the relation, or under the
relation and the page arguments for a connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, TypeVar

import strawberry
from aiodataloader import DataLoader
from strawberry.types import Info
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from loaders.pagination import Children
from resolvers.pagination import ListOrder, PageArgs
from schema.relay import After, Before, Connection, First, Last, page_args, parent_connections

T = TypeVar("T")

# (request context, parents) -> one value per parent.
Load = Callable[[Any, list[Any]], Awaitable[list[Any]]]

# What a relation field holds in the fields' metadata.
_DECLARATION = "storefront.relation"


_NOT_LOADED: Any = object()


@dataclass(frozen=True, eq=False)
class Relation:
    """An object, or a list of objects, per parent: `load(context, parents)` gives one
    value per parent, for many parents at once (through the request's DataLoaders)."""

    load: Load

    def resolve(self, parent: Any, context: Any) -> Any:
        """The value stored on `parent`, or an awaitable that loads it."""
        value = parent.prefetched.get(self, _NOT_LOADED)
        return self._load_one(parent, context) if value is _NOT_LOADED else value

    async def _load_one(self, parent: Any, context: Any) -> Any:
        [value] = await self.load(context, [parent])
        parent.prefetched[self] = value
        return value


@dataclass(frozen=True, eq=False)
class PagedRelation:
    """A connection per parent: pages of `children`, the rows that point at the parent's
    `pk`, in their order (which also makes and checks the pages' cursors).

    `node` gives the GraphQL type of the items, whose `from_model` makes one of a row (a
    function, as the type may be defined later, or in a module that imports this one:
    `lazy_type`). `count` gives a parent's total when the parent knows it; without it,
    totals are counted (one statement per level, only when `totalCount` is asked for).
    `check` raises when the caller may not read the lists of all these parents.
    """

    children: Children[ListOrder]
    node: Callable[[], Any]
    count: Callable[[Any], int] | None = None
    check: Callable[[Any, list[Any]], Awaitable[None]] | None = None

    def page_key(self, arguments: Mapping[str, Any]) -> tuple[PagedRelation, PageArgs]:
        """The key a page is stored under, from its field's arguments."""
        return self, page_args(arguments)

    def resolve(self, parent: Any, context: Any, args: PageArgs) -> Any:
        """The page stored on `parent`, or an awaitable that loads it."""
        page = parent.prefetched.get((self, args))
        return self._load_one(parent, context, args) if page is None else page

    async def _load_one(self, parent: Any, context: Any, args: PageArgs) -> Any:
        [page] = await self.load(context, [parent], args)
        parent.prefetched[self, args] = page
        return page

    async def load(
        self, context: Any, parents: list[Any], args: PageArgs | None
    ) -> list[Connection[Any]]:
        """A page of each parent's children: one statement for all of them, and one for
        the counts when they are wanted and not known."""
        if self.check is not None:
            await self.check(context, parents)
        loaders = context.loaders
        counts = (
            [self.count(parent) for parent in parents]
            if self.count is not None
            else loaders.counts(self.children)
        )
        return await parent_connections(
            context,
            self.children.order,
            loaders.pages(self.children),
            [parent.pk for parent in parents],
            args,
            self.node().from_model,
            counts,
        )


def relation(load: Load, *, description: str) -> Any:
    """A field of one object (or None), or of a list of objects, per parent, which
    `load(context, parents)` gives for many parents at once."""
    declared = Relation(load)

    def resolve(root: Any, info: Info) -> Any:
        return declared.resolve(root, info.context)

    return strawberry.field(
        resolver=resolve, description=description, metadata={_DECLARATION: declared}
    )


def paged_relation(
    children: Children[ListOrder],
    node: Callable[[], Any],
    *,
    description: str,
    count: Callable[[Any], int] | None = None,
    check: Callable[[Any, list[Any]], Awaitable[None]] | None = None,
) -> Any:
    """A connection field: a page of `children` per parent, with Relay's page arguments
    (see `PagedRelation`)."""
    declared = PagedRelation(children, node, count, check)

    def resolve(
        root: Any,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Any:
        args = PageArgs(first=first, after=after, last=last, before=before)
        return declared.resolve(root, info.context, args)

    return strawberry.field(
        resolver=resolve, description=description, metadata={_DECLARATION: declared}
    )


def declaration(field: StrawberryField) -> Relation | PagedRelation | None:
    """The relation a Strawberry field declares, or None for any other field."""
    found: Relation | PagedRelation | None = field.metadata.get(_DECLARATION)
    return found


_RELATIONS: dict[type, dict[str, Relation | PagedRelation]] = {}


def relations_of(cls: type) -> dict[str, Relation | PagedRelation]:
    """The relations of a GraphQL type's class, by GraphQL field name."""
    found = _RELATIONS.get(cls)
    if found is None:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        found = _RELATIONS[cls] = {
            graphql_name(field): declared
            for field in definition.fields
            if (declared := declaration(field)) is not None
        }
    return found


def graphql_name(field: StrawberryField) -> str:
    """A Strawberry field's name in the schema (which converts names to camelCase)."""
    return field.graphql_name or to_camel_case(field.python_name)


def lazy_type(module: str, type_name: str) -> Callable[[], Any]:
    """The GraphQL type `type_name` of `module`, found when asked for: the `node` of a
    connection to a type whose module imports this one (as `strawberry.lazy` finds the
    type of its field)."""
    return lambda: getattr(import_module(module), type_name)


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

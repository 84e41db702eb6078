"""Relay: the Node interface, opaque global IDs, connections."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from aiodataloader import DataLoader

from loaders.pagination import Slice
from resolvers.errors import BadUserInput
from resolvers.pagination import ListOrder, Page, PageArgs
from schema.context import SchemaContext, page_limits

NodeT = TypeVar("NodeT")
KeyT = TypeVar("KeyT")


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="Global ID: opaque (do not parse it), stable for the object's life. Pass "
        "it to `node(id:)`, to the type's own lookup and in inputs that name this object."
    )


# The Relay page arguments of every connection field, described once.
First = Annotated[
    int | None,
    strawberry.argument(
        description="How many items from the start of the list (or from just after "
        "`after`): 0 to the maximum page size, the MAX_PAGE_SIZE setting (100 by default). "
        "With neither `first` nor `last`, a page holds DEFAULT_PAGE_SIZE items (20 by "
        "default). Out of range, or given with `last`: BAD_USER_INPUT."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="A cursor of this same list and ordering (an edge's `cursor` or "
        "`pageInfo.endCursor`): the page starts just after it. A cursor of another list or "
        "ordering, or one this API did not give out: BAD_USER_INPUT."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="How many items from the end of the list (or from just before "
        "`before`): 0 to MAX_PAGE_SIZE (100 by default). Out of range, or given with "
        "`first`: BAD_USER_INPUT."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="A cursor of this same list and ordering (an edge's `cursor` or "
        "`pageInfo.startCursor`): the page ends just before it. A cursor of another list or "
        "ordering, or one this API did not give out: BAD_USER_INPUT."
    ),
]


# A listing page shows ~120 IDs; encoding each anew showed in its profile (the same IDs
# come back request after request; benchmarks/README.md). 16,384 entries hold a few MB.
@lru_cache(maxsize=16_384)
def to_global_id(type_name: str, id_: int | str) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{id_}".encode()).decode())


# Every table's id is a 32-bit integer column: a larger number names no row, and on
# PostgreSQL would make the statement fail.
MAX_DATABASE_ID = 2**31 - 1


def decode_global_id(global_id: str) -> tuple[str, str]:
    """(type name, key) inside a global ID, or BAD_USER_INPUT."""
    try:
        type_name, _, key = base64.b64decode(global_id, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise _invalid(global_id) from None
    if not type_name:
        raise _invalid(global_id)
    return type_name, key


def database_id(key: str, global_id: str) -> int:
    """The database id a global ID's key names, or BAD_USER_INPUT saying what is wrong."""
    if not (key.isascii() and key.isdigit()) or len(key) > 10:
        raise _invalid(global_id)
    id_ = int(key)
    if not 1 <= id_ <= MAX_DATABASE_ID:
        raise BadUserInput(
            f"Invalid ID {global_id[:64]!r}: its number must be between 1 and {MAX_DATABASE_ID}"
        )
    return id_


def _invalid(global_id: str) -> BadUserInput:
    return BadUserInput(f"Invalid ID {global_id[:64]!r}: not an ID this API gave out")


def id_of(global_id: str, type_name: str, argument: str) -> int:
    """The database id of a global ID that must name a `type_name`."""
    return key_of(global_id, type_name, argument, database_id)


def key_of(
    global_id: str, type_name: str, argument: str, parse: Callable[[str, str], KeyT]
) -> KeyT:
    """The key, read by `parse(key, global_id)`, of a global ID that must name a `type_name`."""
    found_type, key = decode_global_id(global_id)
    if found_type != type_name:
        raise BadUserInput(f"`{argument}` must be the ID of a {type_name}, not of a {found_type}")
    return parse(key, global_id)


@strawberry.type(description="Where a page sits in its list, and the cursors of its ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Paging with `first`: whether more items follow this page. Paging with "
        "`last`: whether `before` was given (items follow it)."
    )
    has_previous_page: bool = strawberry.field(
        description="Paging with `last`: whether more items come before this page. Paging "
        "with `first`: whether `after` was given (items come before it)."
    )
    page: strawberry.Private[Page[Any]]

    @strawberry.field(
        description="The cursor of the page's first item, for `before`; null on an empty page."
    )
    def start_cursor(self) -> str | None:
        return self.page.cursor(0) if self.page.items else None

    @strawberry.field(
        description="The cursor of the page's last item, for `after`; null on an empty page."
    )
    def end_cursor(self) -> str | None:
        return self.page.cursor(-1) if self.page.items else None


@strawberry.type(description="One item of a page and its position in the list.")
class Edge(Generic[NodeT]):
    node: NodeT = strawberry.field(description="The item.")
    page: strawberry.Private[Page[Any]]
    index: strawberry.Private[int]

    @strawberry.field(
        description="The item's position: pass it as `after` or `before` to page from here. "
        "Opaque, and valid for this list and ordering only."
    )
    def cursor(self) -> str:
        return self.page.cursor(self.index)


@strawberry.enum(description="How far a count can be trusted.")
class CountPrecision(Enum):
    EXACT = strawberry.enum_value("EXACT", description="The count is exact.")
    AT_LEAST = strawberry.enum_value(
        "AT_LEAST",
        description="Counting stopped at the count limit: there are at least this many.",
    )


@strawberry.type(
    description="A page of a list (Relay connection): page with `first`/`after` forward, "
    "`last`/`before` backward."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(
        description="The page's items in list order, each with its cursor."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether there is more on either side, and the cursors of the page's ends."
    )
    total_count: int = strawberry.field(
        description="How many items the whole list holds. The root lists (`products`, "
        "`categories`, `orders`) count exactly up to the TOTAL_COUNT_LIMIT setting (1,000 by "
        "default) and no further: past it `totalCount` is the limit and "
        '`totalCountPrecision` is AT_LEAST (show "1,000+"), so a count never reads a '
        "whole large catalog. Selecting it adds 25 points of query cost (a count reads up "
        "to the limit's worth of matching rows): leave it out when not shown."
    )
    total_count_precision: CountPrecision = strawberry.field(
        description="EXACT, or AT_LEAST when `totalCount` stopped at the count limit."
    )


def connection(page: Page[Any], to_node: Callable[[Any], NodeT]) -> Connection[NodeT]:
    """A connection of GraphQL objects made by `to_node` from a page of rows.

    Cursors are made only for the edges and page ends a query asks about.
    """
    return Connection(
        edges=[
            Edge(node=to_node(row), page=page, index=index) for index, row in enumerate(page.items)
        ],
        page_info=PageInfo(
            has_next_page=page.has_next, has_previous_page=page.has_previous, page=page
        ),
        total_count=page.total_count,
        total_count_precision=CountPrecision.EXACT if page.total_exact else CountPrecision.AT_LEAST,
    )


def page_args(arguments: Mapping[str, Any]) -> PageArgs:
    """Relay arguments out of a selected field's arguments.

    Strawberry hands literals over as their source text ("5"); the document was already
    validated, so an Int literal is a valid integer.
    """
    first, last = arguments.get("first"), arguments.get("last")
    return PageArgs(
        first=None if first is None else int(first),
        after=arguments.get("after"),
        last=None if last is None else int(last),
        before=arguments.get("before"),
    )


async def parent_connections(
    context: SchemaContext,
    order: ListOrder,
    pages: DataLoader[Any, Slice],
    parent_pks: list[int],
    args: PageArgs | None,
    to_node: Callable[[Any], NodeT],
    counts: DataLoader[int, int] | list[int],
) -> list[Connection[NodeT]]:
    """One connection per parent (its children in `order`), for a whole level at once:
    one statement for the pages, and one for the counts when they are wanted and not
    known."""
    args = args or PageArgs()
    window = order.window(args, page_limits(context))
    keys = [(pk, window) for pk in parent_pks]
    if not args.total:
        slices, totals = await pages.load_many(keys), [0] * len(parent_pks)
    elif isinstance(counts, list):
        slices, totals = await pages.load_many(keys), counts
    else:
        slices, totals = await asyncio.gather(pages.load_many(keys), counts.load_many(parent_pks))
    return [
        connection(order.page(found, total, counted=args.total), to_node)
        for found, total in zip(slices, totals, strict=True)
    ]

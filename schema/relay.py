"""Relay: the Node interface, opaque global IDs, connections."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Generic, TypeVar

import strawberry
from aiodataloader import DataLoader

from loaders.pagination import Slice
from resolvers.errors import BadUserInput
from resolvers.pagination import ListOrder, Page, PageArgs
from schema.context import SchemaContext, page_limits

NodeT = TypeVar("NodeT")


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


# A listing page shows ~120 IDs; encoding each anew was about 2% of its CPU time (the
# same IDs come back request after request). 16,384 entries hold a few MB.
@lru_cache(maxsize=16_384)
def to_global_id(type_name: str, id_: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{id_}".encode()).decode())


# Every table's id is a 32-bit integer column: a larger number names no row, and on
# PostgreSQL would make the statement fail.
MAX_DATABASE_ID = 2**31 - 1


def from_global_id(global_id: str) -> tuple[str, int]:
    """(type name, database id) inside a global ID, or BAD_USER_INPUT saying what is wrong."""
    try:
        decoded = base64.b64decode(global_id, validate=True).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadUserInput(f"Invalid ID {global_id[:64]!r}: not an ID this API gave out") from None
    type_name, _, raw_id = decoded.partition(":")
    if not type_name or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 10:
        raise BadUserInput(f"Invalid ID {global_id[:64]!r}: not an ID this API gave out")
    id_ = int(raw_id)
    if not 1 <= id_ <= MAX_DATABASE_ID:
        raise BadUserInput(
            f"Invalid ID {global_id[:64]!r}: its number must be between 1 and {MAX_DATABASE_ID}"
        )
    return type_name, id_


def id_of(global_id: str, type_name: str, argument: str) -> int:
    """The database id of a global ID that must name a `type_name`."""
    found_type, id_ = from_global_id(global_id)
    if found_type != type_name:
        raise BadUserInput(f"`{argument}` must be the ID of a {type_name}, not of a {found_type}")
    return id_


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    page: strawberry.Private[Page[Any]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self.page.cursor(0) if self.page.items else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self.page.cursor(-1) if self.page.items else None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    page: strawberry.Private[Page[Any]]
    index: strawberry.Private[int]

    @strawberry.field
    def cursor(self) -> str:
        return self.page.cursor(self.index)


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    total_count: int


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
    one statement for the pages, and one for the counts unless they are known."""
    window = order.window(args or PageArgs(), page_limits(context))
    keys = [(pk, window) for pk in parent_pks]
    if isinstance(counts, list):
        slices, totals = await pages.load_many(keys), counts
    else:
        slices, totals = await asyncio.gather(pages.load_many(keys), counts.load_many(parent_pks))
    return [
        connection(order.page(found, total), to_node)
        for found, total in zip(slices, totals, strict=True)
    ]

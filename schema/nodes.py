"""Fetching objects by global ID: `node`, `nodes` and federation's `_entities`.

Each type module registers how its objects load (a DataLoader of the request) and how a
row becomes a GraphQL object. Many IDs of one type cost one statement, through the
DataLoader's batching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiodataloader import DataLoader

from loaders import Loaders
from resolvers.errors import BadUserInput
from schema.context import SchemaContext
from schema.relay import from_global_id

# Raises UNAUTHENTICATED or FORBIDDEN when the caller may not read the row.
Guard = Callable[[SchemaContext, Any], Awaitable[None]]
# False when the row must look missing to the caller.
Visible = Callable[[SchemaContext, Any], Awaitable[bool]]


@dataclass(frozen=True)
class NodeType:
    loader: Callable[[Loaders], DataLoader[int, Any]]
    to_node: Callable[[Any], Any]
    guard: Guard | None
    visible: Visible | None = None


_NODE_TYPES: dict[str, NodeType] = {}


def register_node(
    type_name: str,
    loader: Callable[[Loaders], Any],
    to_node: Callable[[Any], Any],
    guard: Guard | None = None,
    visible: Visible | None = None,
) -> None:
    """Make a type fetchable by global ID; `guard` keeps private rows private (an error),
    `visible` hides them (as if missing), so that `node` and `nodes` are no side door
    around the type's own queries."""
    _NODE_TYPES[type_name] = NodeType(loader=loader, to_node=to_node, guard=guard, visible=visible)


async def load_node(context: SchemaContext, global_id: str, expected: str | None = None) -> Any:
    """The object behind a global ID, or None when it does not exist."""
    type_name, id_ = from_global_id(global_id)
    if expected is not None and type_name != expected:
        raise BadUserInput(f"Expected the ID of a {expected}, got the ID of a {type_name}")
    node_type = _NODE_TYPES.get(type_name)
    if node_type is None:
        raise BadUserInput(f"Unknown type in ID: {type_name[:32]!r}")
    row = await node_type.loader(context.loaders).load(id_)
    if row is None:
        return None
    if node_type.visible is not None and not await node_type.visible(context, row):
        return None
    if node_type.guard is not None:
        await node_type.guard(context, row)
    return node_type.to_node(row)


async def load_nodes(context: SchemaContext, global_ids: Sequence[str]) -> list[Any]:
    """The objects behind many global IDs, in order; one statement per type."""
    return list(await asyncio.gather(*(load_node(context, id_) for id_ in global_ids)))

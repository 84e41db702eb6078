"""The GraphQL schema: a federation v2 subgraph built from one module per domain."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.federation import Schema
from strawberry.federation.schema import FederationAny
from strawberry.printer import print_schema
from strawberry.types import ExecutionContext, Info

from resolvers.errors import BadUserInput
from schema.accounts import AccountsQuery, User
from schema.catalog import CatalogMutation, CatalogQuery, Category, Product
from schema.context import page_limits
from schema.errors import ErrorCodes, log_unexpected
from schema.execution import ReleaseRequestData, StorefrontExecutionContext
from schema.introspection import IntrospectionPolicy
from schema.limits import QueryLimits
from schema.nodes import load_node, load_nodes
from schema.observe import ObserveOperations
from schema.orders import Order, OrdersMutation, OrdersQuery
from schema.prefetch import prefetched
from schema.relay import Node
from schema.reviews import Review, ReviewsMutation
from schema.subscriptions import Subscription


@strawberry.type
class Query(CatalogQuery, AccountsQuery, OrdersQuery):
    @strawberry.field(description="Any object by its global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        found = await load_node(info.context, id)
        if found is not None:
            await prefetched(info, [found])
        return found

    @strawberry.field(description="Objects by global ID, in order; null where none exists.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        maximum = page_limits(info.context).max_size
        if len(ids) > maximum:
            raise BadUserInput(f"`ids` may hold at most {maximum} IDs, got {len(ids)}")
        found = await load_nodes(info.context, ids)
        await prefetched(info, [node for node in found if node is not None])
        return found


@strawberry.type
class Mutation(CatalogMutation, ReviewsMutation, OrdersMutation):
    pass


class StorefrontSchema(Schema):
    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Federation's `_entities`: references resolve in batches, then prefetch as one."""
        pending = super().entities_resolver(info, representations)
        found = await asyncio.gather(*(_awaited(item) for item in pending), return_exceptions=True)
        await prefetched(
            info, [item for item in found if hasattr(item, "__strawberry_definition__")]
        )
        return cast(list[FederationAny], found)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


schema = StorefrontSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[Product, Category, Review, User, Order],
    extensions=[
        IntrospectionPolicy,
        QueryLimits,
        ErrorCodes,
        ReleaseRequestData,
        ObserveOperations,
    ],
    execution_context_class=StorefrontExecutionContext,
    federation_version="2.11",
)


def sdl() -> str:
    """The schema's SDL, as written to `schema.graphql`."""
    return print_schema(schema) + "\n"

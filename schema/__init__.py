"""The GraphQL schema: a federation v2 subgraph built from one module per domain."""

from __future__ import annotations

import asyncio
import inspect
from typing import Annotated, Any, cast

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
from schema.errors import ErrorCodes, log_errors
from schema.execution import ReleaseRequestData, StorefrontExecutionContext
from schema.inputs import SCALAR_OVERRIDES, RefuseNulCharacters
from schema.introspection import IntrospectionPolicy
from schema.limits import QueryLimits
from schema.nodes import load_node, load_nodes
from schema.observe import ObserveOperations
from schema.orders import Order, OrdersMutation, OrdersQuery
from schema.prefetch import prefetched
from schema.relay import Node
from schema.reviews import Review, ReviewsMutation
from schema.subscriptions import Subscription

# What any field of a query or mutation may give, in `errors[].extensions.code`.
_ANY_FIELD_ERRORS = (
    "Errors any field may give: UNAUTHENTICATED (a bearer token was sent but is invalid, "
    "expired or revoked, where the field needs the caller), QUERY_TOO_COMPLEX (the document "
    "is too large, deeper than MAX_QUERY_DEPTH (12 by default) or costs more than "
    "MAX_QUERY_COST (5,000 by default); nothing ran), RATE_LIMITED (over RATE_LIMIT or "
    "RATE_LIMIT_COST: HTTP 429, retry after `Retry-After` seconds), SERVICE_UNAVAILABLE "
    "(the database is unreachable or too slow: retry later), INTERNAL_SERVER_ERROR (a bug; "
    "the log has it under the request id)."
)


@strawberry.type(
    description="What can be read. Fields marked public need no token; the others say which "
    f"scope they need. {_ANY_FIELD_ERRORS}"
)
class Query(CatalogQuery, AccountsQuery, OrdersQuery):
    @strawberry.field(
        description="Any object by its global ID; null when none exists or you may not see "
        "it (someone else's order, a user who is neither you nor a review's author). An "
        "order's ID needs a token with `orders:read` or `orders:manage` (UNAUTHENTICATED, "
        "FORBIDDEN). A malformed ID: BAD_USER_INPUT."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global ID.")],
    ) -> Node | None:
        found = await load_node(info.context, id)
        if found is not None:
            await prefetched(info, [found])
        return found

    @strawberry.field(
        description="Objects by global ID, in the order given; null where none exists or "
        "you may not see it (as for `node`). One malformed ID fails the whole field with "
        "BAD_USER_INPUT."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description="Global IDs, at most MAX_PAGE_SIZE (100 by default; more: "
                "BAD_USER_INPUT)."
            ),
        ],
    ) -> list[Node | None]:
        maximum = page_limits(info.context).max_size
        if len(ids) > maximum:
            raise BadUserInput(f"`ids` may hold at most {maximum} IDs, got {len(ids)}")
        found = await load_nodes(info.context, ids)
        await prefetched(info, [node for node in found if node is not None])
        return found


@strawberry.type(
    description="What can be changed. Every mutation needs a bearer token with the scope it "
    "names (UNAUTHENTICATED without one, FORBIDDEN without the scope). Problems with the "
    "input that the user can fix come back in the payload's `userErrors`, and then nothing "
    "was written; a malformed ID in the input is BAD_USER_INPUT. At most "
    "MAX_MUTATIONS_PER_REQUEST (5 by default) mutation fields per document "
    f"(QUERY_TOO_COMPLEX beyond); they run one after another. {_ANY_FIELD_ERRORS}"
)
class Mutation(CatalogMutation, ReviewsMutation, OrdersMutation):
    pass


class StorefrontSchema(Schema):
    async def entities_resolver(  # type: ignore[override]
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Federation's `_entities`: references resolve in batches, then prefetch as one.

        A malformed representation is the client's mistake: BAD_USER_INPUT at its index,
        checked here, since Strawberry would fail on it with a KeyError or TypeError.
        """
        problems = [_representation_problem(item) for item in representations]
        valid = [
            item for item, problem in zip(representations, problems, strict=True) if not problem
        ]
        resolved = iter(super().entities_resolver(info, valid))
        pending = [problem or next(resolved) for problem in problems]
        found = await asyncio.gather(*(_awaited(item) for item in pending), return_exceptions=True)
        await prefetched(
            info, [item for item in found if hasattr(item, "__strawberry_definition__")]
        )
        return cast(list[FederationAny], found)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors, execution_context)


def _reference_keys(type_: Any) -> frozenset[str]:
    parameters = inspect.signature(type_.resolve_reference).parameters
    return frozenset(parameters) - {"cls", "info"}


_ENTITY_TYPES: list[Any] = [Product, Category, Review, User, Order]
_ENTITY_KEYS = {
    type_.__strawberry_definition__.name: _reference_keys(type_)
    for type_ in _ENTITY_TYPES
    if hasattr(type_, "resolve_reference")
}


def _representation_problem(representation: Any) -> BadUserInput | None:
    """What is wrong with one `_entities` representation, or None."""
    if not isinstance(representation, dict):
        return BadUserInput("A representation must be an object with `__typename` and a key")
    type_name = representation.get("__typename")
    keys = _ENTITY_KEYS.get(type_name) if isinstance(type_name, str) else None
    if keys is None:
        names = ", ".join(sorted(_ENTITY_KEYS))
        return BadUserInput(f"`__typename` must be one of this subgraph's entities: {names}")
    given = {name: value for name, value in representation.items() if name != "__typename"}
    if not given or not set(given) <= keys or not all(isinstance(v, str) for v in given.values()):
        expected = " or ".join(f"`{key}`" for key in sorted(keys))
        return BadUserInput(f"A {type_name} representation takes {expected}, as a string")
    return None


async def _awaited(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


schema = StorefrontSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=_ENTITY_TYPES,
    extensions=[
        IntrospectionPolicy,
        QueryLimits,
        RefuseNulCharacters,
        ErrorCodes,
        ReleaseRequestData,
        ObserveOperations,
    ],
    scalar_overrides=SCALAR_OVERRIDES,
    execution_context_class=StorefrontExecutionContext,
    federation_version="2.11",
)


def sdl() -> str:
    """The schema's SDL, as written to `schema.graphql`."""
    return print_schema(schema) + "\n"

"""GraphQL types for people: `User`.

A user is private. Fetched by ID (`node`, `nodes`, federation's `_entities`), a user is
shown to themself (scope `profile`) and to staff (`orders:manage`); to anyone else only
when they wrote a review (reviews are public, and so is their author's display name), and
otherwise exactly as a missing user: null. Whether users wrote reviews is read in one
batch for all the users of a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from auth.scopes import Scope
from loaders.pagination import Children
from models.accounts import User as UserModel
from models.orders import Order as OrderModel
from resolvers.orders import ORDERS, authorize_read
from schema.context import SchemaContext
from schema.nodes import register_node
from schema.permissions import require_owner_or_staff, require_scope
from schema.prefetch import prefetched_object
from schema.relations import by_pk, lazy_type, paged_relation
from schema.relay import Connection, Node, id_of, to_global_id

if TYPE_CHECKING:
    from schema.orders import Order


async def _email(root: User, info: Info) -> str:
    await require_owner_or_staff(info, root.pk, Scope.PROFILE, "this e-mail address")
    return root.private_email


async def _may_read_orders(context: SchemaContext, users: list[User]) -> None:
    """FORBIDDEN (for the whole batch) unless the caller may read each user's orders.
    Prefetching then leaves the field to each user's own resolver, which loads the
    permitted ones and reports the others at their own path."""
    viewer = await context.viewer()
    for user in users:
        authorize_read(viewer, user.pk)


@strawberry.federation.type(
    keys=["id"],
    description="A customer or member of staff. Whole to the user themself (scope "
    "`profile`) and to staff (`orders:manage`); to anyone else a user exists only as the "
    "author of a review (`id` and `name`), and `node(id:)` answers null for any other.",
)
class User(Node):
    name: str = strawberry.field(description="Display name; public on the user's reviews.")
    pk: strawberry.Private[int]
    private_email: strawberry.Private[str]
    prefetched: strawberry.Private[dict[Any, Any]]
    email: str = strawberry.field(
        resolver=_email,
        description="The address the user signs in with. Only to the user themself (scope "
        "`profile`) or staff (`orders:manage`): FORBIDDEN to anyone else, UNAUTHENTICATED "
        "without a token.",
    )
    orders: Connection[Annotated[Order, strawberry.lazy("schema.orders")]] = paged_relation(
        Children(OrderModel, "customer_id", ORDERS),
        lazy_type("schema.orders", "Order"),
        check=_may_read_orders,
        description="Their orders, newest first, a page at a time. Only to the user themself "
        "(scope `orders:read`) or staff (`orders:manage`): FORBIDDEN to anyone else, "
        "UNAUTHENTICATED without a token.",
    )

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(
            id=to_global_id("User", user.id),
            name=user.name,
            pk=user.id,
            private_email=user.email,
            prefetched={},
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User | None:
        row = await info.context.loaders.user_by_id.load(id_of(id, "User", "id"))
        visible = await visible_user(info.context, row)
        return None if visible is None else cls.from_model(visible)


async def visible_user(context: SchemaContext, row: Any | None) -> Any | None:
    """The user when the caller may see them at all (see the module's docstring), else
    None: to everyone else they are missing."""
    if row is None:
        return None
    viewer = await context.viewer()
    if viewer is not None:
        if viewer.user_id == row.id and viewer.has_scope(Scope.PROFILE):
            return row
        if viewer.acts_as_staff and viewer.has_scope(Scope.ORDERS_MANAGE):
            return row
    has_reviewed: bool = await context.loaders.has_reviewed.load(row.id)
    return row if has_reviewed else None


async def users_by_pk(context: SchemaContext, pks: list[int]) -> list[User | None]:
    return await by_pk(context.loaders.user_by_id, pks, User.from_model)


@strawberry.type
class AccountsQuery:
    @strawberry.field(
        description="The signed-in user: scope `profile` (UNAUTHENTICATED without a token, "
        "FORBIDDEN without the scope); null for a client's own token (client_credentials)."
    )
    async def me(self, info: Info) -> User | None:
        viewer = await require_scope(info, Scope.PROFILE)
        if viewer.user_id is None:
            return None
        row = await info.context.loaders.user_by_id.load(viewer.user_id)
        return await prefetched_object(info, row, User.from_model)


register_node("User", lambda loaders: loaders.user_by_id, User.from_model, guard=visible_user)

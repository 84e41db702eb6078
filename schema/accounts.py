"""GraphQL types for people: `User`."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from models.accounts import User as UserModel
from schema.context import SchemaContext
from schema.nodes import register_node
from schema.relay import Node, id_of, to_global_id


@strawberry.federation.type(keys=["id"], description="A customer or member of staff.")
class User(Node):
    id: strawberry.ID
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(id=to_global_id("User", user.id), name=user.name, pk=user.id)

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> User | None:
        row = await info.context.loaders.user_by_id.load(id_of(id, "User", "id"))
        return None if row is None else cls.from_model(row)


async def users_by_pk(context: SchemaContext, pks: list[int]) -> list[User | None]:
    rows = await context.loaders.user_by_id.load_many(pks)
    return [None if row is None else User.from_model(row) for row in rows]


register_node("User", lambda loaders: loaders.user_by_id, User.from_model)

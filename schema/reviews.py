"""GraphQL type of reviews: `Review`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from auth.scopes import Scope
from models.reviews import Review as ReviewModel
from resolvers import reviews
from schema.accounts import User, users_by_pk
from schema.catalog import PRODUCT_ID_INPUT, Product, products_by_pk
from schema.context import SchemaContext
from schema.nodes import register_node
from schema.payloads import USER_ERRORS, UserError, mutation_payload
from schema.permissions import require_user
from schema.relations import relation
from schema.relay import Node, id_of, to_global_id


async def _authors(context: SchemaContext, reviews: list[Review]) -> list[User | None]:
    return await users_by_pk(context, [review.author_pk for review in reviews])


async def _products(context: SchemaContext, reviews: list[Review]) -> list[Product | None]:
    return await products_by_pk(context, [review.product_pk for review in reviews])


@strawberry.type(
    description="A customer's rating (1 to 5) and words about a product. Public: no token needed."
)
class Review(Node):
    rating: int = strawberry.field(description="1 to 5.")
    body: str = strawberry.field(
        description="The reviewer's words, up to 5,000 characters, may hold line breaks; "
        "may be empty."
    )
    created_at: datetime = strawberry.field(description="When it was written.")
    pk: strawberry.Private[int]
    author_pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    prefetched: strawberry.Private[dict[Any, Any]]
    author: User | None = relation(
        _authors,
        description="Who wrote it. Anyone may read the author's `id` and `name`; `email` "
        "and `orders` stay private.",
    )
    product: Product = relation(_products, description="What it is about.")

    @classmethod
    def from_model(cls, review: ReviewModel) -> Review:
        return cls(
            id=to_global_id("Review", review.id),
            rating=review.rating,
            body=review.body,
            created_at=review.created_at,
            pk=review.id,
            author_pk=review.author_id,
            product_pk=review.product_id,
            prefetched={},
        )


register_node("Review", lambda loaders: loaders.review_by_id, Review.from_model)


@strawberry.input(description="A review of one product.")
class AddReviewInput:
    product_id: strawberry.ID = strawberry.field(description=PRODUCT_ID_INPUT)
    rating: int = strawberry.field(description="1 to 5 (INVALID_RATING).")
    body: str = strawberry.field(
        default="",
        description="Your words, up to 5,000 characters (TOO_LONG); line breaks and tabs "
        "allowed, other control characters not (INVALID). Empty when absent.",
    )


@strawberry.type(description="What `addReview` returns.")
class AddReviewPayload:
    review: Review | None = strawberry.field(
        description="The new review; null when `userErrors` is not empty."
    )
    user_errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class ReviewsMutation:
    @strawberry.mutation(
        description="Review a product, once per product (ALREADY_REVIEWED). Scope "
        "`reviews:write`, with a signed-in user's token (a client's own token: FORBIDDEN)."
    )
    async def add_review(
        self,
        info: Info,
        input: Annotated[AddReviewInput, strawberry.argument(description="The review.")],
    ) -> AddReviewPayload:
        user_id = await require_user(
            info, Scope.REVIEWS_WRITE, "Only a signed-in user can write a review"
        )
        return await mutation_payload(
            info,
            AddReviewPayload,
            reviews.add_review(
                user_id,
                id_of(input.product_id, "Product", "input.productId"),
                input.rating,
                input.body,
            ),
            lambda row: {"review": Review.from_model(row)},
        )

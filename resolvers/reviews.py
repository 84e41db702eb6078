"""Reviews: reading a product's reviews, and the rules of writing one."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models.catalog import Product
from models.reviews import Review
from resolvers.pagination import ListOrder
from resolvers.problems import Problem, ProblemCode, Rejected, check_text, reject

# Newest first; ids grow with time, so the id alone is a stable, indexed order.
PRODUCT_REVIEWS = ListOrder(kind="product-reviews", columns=("id",), types=(int,), descending=True)

MAX_BODY = 5_000


async def add_review(author_id: int, product_id: int, rating: int, body: str) -> Review:
    """One review per author and product; the product's rating figures move with it."""
    problems = check_text(
        body, ("input", "body"), max_length=MAX_BODY, required=False, multiline=True
    )
    if not 1 <= rating <= 5:
        problems.append(
            Problem(("input", "rating"), "`rating` must be 1 to 5", ProblemCode.INVALID_RATING)
        )
    if problems:
        raise Rejected(problems)
    already = reject(
        ("input", "productId"),
        "You have already reviewed this product",
        ProblemCode.ALREADY_REVIEWED,
    )
    try:
        async with in_transaction():
            if not await Product.exists(id=product_id):
                raise reject(("input", "productId"), "No such product", ProblemCode.NOT_FOUND)
            if await Review.exists(author_id=author_id, product_id=product_id):
                raise already
            review = await Review.create(
                author_id=author_id, product_id=product_id, rating=rating, body=body
            )
            await Product.filter(id=product_id).update(
                review_count=F("review_count") + 1, rating_total=F("rating_total") + rating
            )
            # Our update holds the row's lock until commit, so these figures are current.
            totals = await Product.get(id=product_id).only("id", "rating_total", "review_count")
            await Product.filter(id=product_id).update(
                rating_average=totals.rating_total / totals.review_count
            )
    except IntegrityError:
        # The same author's other request won the race for the (author, product) pair.
        raise already from None
    return review

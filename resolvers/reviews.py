"""Review reads."""

from __future__ import annotations

from resolvers.pagination import ListOrder

# Must match loaders.reviews.REVIEWS_OF_PRODUCT, the order the loader fetches in.
PRODUCT_REVIEWS = ListOrder(kind="product-reviews", columns=("id",), types=(int,), descending=True)

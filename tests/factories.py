"""Builders of test data, written straight through the models."""

from __future__ import annotations

from dataclasses import dataclass, field

from auth.accounts import create_user
from models.accounts import User
from models.catalog import Category, Product
from models.reviews import Review
from resolvers.reviews import add_review as write_review
from resolvers.search import search_columns

PASSWORD = "correct horse battery"


@dataclass
class Catalog:
    root: Category
    child: Category
    products: list[Product] = field(default_factory=list)
    users: list[User] = field(default_factory=list)


async def make_user(
    email: str = "ann@example.com", *, name: str | None = None, staff: bool = False
) -> User:
    """A user who signs in with PASSWORD, made as `storefront create-user` makes one; named
    after their e-mail unless told otherwise."""
    return await create_user(email, name or email.split("@")[0].title(), PASSWORD, is_staff=staff)


async def make_numbered_user(number: int) -> User:
    return await make_user(f"user{number}@example.com", name=f"User {number}")


async def make_product(
    number: int,
    *,
    category: Category | None = None,
    price_minor: int = 1000,
    stock: int = 10,
    name: str | None = None,
) -> Product:
    sku, name = f"SKU-{number:04d}", name or f"Product {number:04d}"
    description = f"Description of product {number}"
    return await Product.create(
        sku=sku,
        name=name,
        slug=f"product-{number:04d}",
        description=description,
        **search_columns(name, sku, description),
        price_minor=price_minor,
        currency="USD",
        stock=stock,
        category=category,
    )


async def add_review(product: Product, author: User, rating: int) -> Review:
    """A review written as the service writes one, rating figures and all; `product` is
    refreshed to show them."""
    review = await write_review(author.id, product.id, rating, f"{rating} stars")
    await product.refresh_from_db(fields=["review_count", "rating_total", "rating_average"])
    return review


async def make_catalog(products: int, reviews_per_product: int = 3) -> Catalog:
    """A root category with one child; products alternate between them."""
    root = await Category.create(name="Root", slug="root")
    child = await Category.create(name="Child", slug="child", parent=root)
    catalog = Catalog(root=root, child=child)
    catalog.users = [await make_numbered_user(number) for number in range(reviews_per_product)]
    for number in range(products):
        product = await make_product(
            number,
            category=child if number % 2 else root,
            price_minor=500 + (number * 37) % 1000,
            stock=number % 4,
        )
        for index, author in enumerate(catalog.users):
            await add_review(product, author, 1 + (number + index) % 5)
        catalog.products.append(product)
    return catalog

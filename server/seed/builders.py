"""The rows of a seed, made as streams: each table's rows come a batch at a time.

Everything comes from random generators seeded by (seed, table) and from a fixed base
date, never from the clock, so the same seed gives the same rows on every database.
Nothing holds a table's rows: what later tables need of earlier ones (when each
product and user appeared, prices, popularity, rating figures) is kept in compact
per-id arrays, a few numbers per product, user and review (about 60 MB for the 100x
catalog, where building every row as a model took 1.5 GB).

Reviews get ids in order of time (the newest has the highest id), at most one per
author and product. Each product's rating figures must be on its row when it is
written, before its reviews: the reviews are drawn first into compact columns
(`plan_reviews`, 13 bytes a review), which give the figures, then written as rows.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from resolvers.catalog import slugify
from resolvers.orders import order_number
from resolvers.search import search_columns
from server.seed.vocabulary import (
    ADJECTIVES,
    COLOURS,
    DEPARTMENTS,
    FEATURES,
    FIRST_NAMES,
    ITEM_COUNT_WEIGHTS,
    LAST_NAMES,
    QUANTITY_WEIGHTS,
    RATING_WEIGHTS,
    REVIEW_DETAILS,
    REVIEW_OPENINGS,
    STATUS_WEIGHTS,
    USES,
    Assortment,
)

BASE_TIME = datetime(2025, 1, 1, tzinfo=UTC)
CATALOG_SECONDS = int(timedelta(days=180).total_seconds())  # products appear in half a year
SIGNUP_SECONDS = int(timedelta(days=300).total_seconds())
HISTORY_SECONDS = int(timedelta(days=365).total_seconds())
Row = tuple[Any, ...]


def _rng(seed: int, stream: str) -> random.Random:
    # One generator per table (and per use): a table's rows do not depend on how many
    # random numbers another table drew.
    return random.Random(f"{seed}:{stream}")  # noqa: S311  (reproducible demo data)


def _at(seconds: int) -> datetime:
    return BASE_TIME + timedelta(seconds=seconds)


@dataclass
class Timeline:
    """When each of a kind of row appeared (seconds after BASE_TIME), by id, and the ids
    in order of appearance, to find what existed at a moment."""

    seconds: list[int] = field(default_factory=list)
    by_time: list[int] = field(default_factory=list)  # indexes (id - 1), oldest first
    sorted_seconds: list[int] = field(default_factory=list)

    def add(self, seconds: int) -> None:
        self.seconds.append(seconds)

    def index(self) -> None:
        self.by_time = sorted(range(len(self.seconds)), key=lambda i: (self.seconds[i], i))
        self.sorted_seconds = [self.seconds[i] for i in self.by_time]

    def existing(self, seconds: int) -> int:
        """How many had appeared by `seconds` (the first ones of `by_time`)."""
        return bisect.bisect_right(self.sorted_seconds, seconds)


def categories(count: int) -> tuple[list[Row], dict[int, Assortment]]:
    """(id, name, slug, parent_id, created) rows: departments with subcategories under
    them; and what each category sells. A few hundred at most: made at once."""
    roots = min(len(DEPARTMENTS), max(1, math.ceil(count / 5)))
    rows: list[Row] = []
    assortment: dict[int, Assortment] = {}

    def add(name: str, slug: str, parent_id: int | None, sells: Assortment) -> None:
        number = len(rows) + 1
        rows.append((number, name, slug, parent_id, BASE_TIME + timedelta(minutes=number)))
        assortment[number] = sells

    for department in DEPARTMENTS[:roots]:
        add(department.name, slugify(department.name), None, department.everything())
    for position in range(count - roots):
        parent = rows[position % roots]
        department = assortment[parent[0]].department
        round_, which = divmod(position // roots, len(department.shelves))
        shelf, nouns = department.shelves[which]
        # Past the named subcategories, number further ones ("Cookware 2").
        name = shelf + (f" {round_ + 1}" if round_ else "")
        add(name, f"{parent[2]}-{slugify(name)}", parent[0], Assortment(department, nouns))
    return rows, assortment


def users(seed: int, count: int, timeline: Timeline) -> Iterator[Row]:
    """(id, email, name, created) of the demo customers, `user0001@example.com` and on,
    who cannot sign in (no password); fills `timeline`."""
    rng = _rng(seed, "users")
    for number in range(1, count + 1):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        seconds = rng.randint(0, SIGNUP_SECONDS)
        timeline.add(seconds)
        yield number, f"user{number:04d}@example.com", name, _at(seconds)


def _price_minor(rng: random.Random, low: int, high: int) -> int:
    """A shop-like price: log-uniform in the range, ending in .99, .95, .49 or .00."""
    whole = max(1, int(math.exp(rng.uniform(math.log(low), math.log(high)))) // 100)
    return whole * 100 + rng.choice((99, 99, 95, 49, 0))


@dataclass
class ProductFacts:
    """What reviews and orders need to know of the products, by index (id - 1)."""

    timeline: Timeline = field(default_factory=Timeline)
    prices: list[int] = field(default_factory=list)
    leanings: list[int] = field(default_factory=list)  # how a product shifts its ratings
    popularity: list[float] = field(default_factory=list)  # cumulative, in timeline order


def products(
    seed: int,
    count: int,
    categories: list[Row],
    assortment: dict[int, Assortment],
    currency: str,
    figures: tuple[list[int], list[int]] | None = None,
    facts: ProductFacts | None = None,
) -> Iterator[Row]:
    """Product rows in the leaf categories (or the roots when there are no leaves).

    Drawn once to collect `facts` (no `figures` yet), then again with each product's
    review count and rating total in `figures` to be written.
    """
    rng = _rng(seed, "products")
    leaves = [row for row in categories if row[3] is not None] or categories
    slugs: set[str] = set()
    for number in range(1, count + 1):
        category = rng.choice(leaves) if leaves else None
        sells = assortment[category[0]] if category else DEPARTMENTS[0].everything()
        department = sells.department
        adjective = rng.choice(ADJECTIVES)
        name = f"{adjective} {rng.choice(COLOURS)} {rng.choice(sells.nouns)}"
        slug = slugify(name)
        if slug in slugs:
            slug = f"{slug}-{number}"
        slugs.add(slug)
        sku = f"{department.code}-{number:05d}"
        description = (
            f"The {name} is a {adjective.lower()} choice for {rng.choice(USES)}. "
            f"{rng.choice(FEATURES)}"
        )
        price = _price_minor(rng, *department.price_range_minor)
        stock = 0 if rng.random() < 0.08 else rng.randint(1, 200)
        seconds = rng.randint(0, CATALOG_SECONDS)
        leaning = max(-2, min(1, round(rng.gauss(0, 0.7))))
        popularity = min(rng.paretovariate(1.5), 20.0)
        if facts is not None:
            facts.timeline.add(seconds)
            facts.prices.append(price)
            facts.leanings.append(leaning)
            facts.popularity.append(popularity)
        reviews, total = (figures[0][number - 1], figures[1][number - 1]) if figures else (0, 0)
        searched = search_columns(name, sku, description)
        yield (
            number,
            sku,
            name,
            slug,
            description,
            price,
            currency,
            stock,
            category[0] if category else None,
            reviews,
            total,
            total / reviews if reviews else 0.0,
            searched["search_name"],
            searched["search_text"],
            _at(seconds),
        )


def index_products(facts: ProductFacts) -> None:
    """Order the products by time and make their popularity cumulative in that order."""
    facts.timeline.index()
    weights = [facts.popularity[index] for index in facts.timeline.by_time]
    facts.popularity = list(itertools.accumulate(weights))


class _Weights:
    """Weighted choice of an index, a bisection per draw (`random.choices` adds up the
    weights on every call: most of the time of two million reviews)."""

    def __init__(self, weights: tuple[int, ...]) -> None:
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> int:
        return bisect.bisect_right(self.cumulative, rng.random() * self.total)


def _spread(rng: random.Random, number: float, count: int, start: int) -> int:
    """The moment of the `number`-th of `count` events from `start` to the end of the
    history: increasing with `number`, so ids follow time."""
    return start + int((HISTORY_SECONDS - start) * (number + rng.random()) / count)


class _Authors:
    """Distinct authors per product: the k-th review of a product is by the k-th user of
    that product's own permutation of the users (a product waits for that user to sign
    up), with no set of the pairs taken."""

    def __init__(self, user_count: int, product_count: int) -> None:
        self.users = user_count
        self.taken = [0] * product_count
        self.stride = next(
            step for step in (7919, 104729, 1299709, 1) if math.gcd(step, user_count) == 1
        )

    def next(self, product: int, signed_up: int) -> int | None:
        """A user index (in sign-up order) who has not reviewed `product`, or None when
        the product's next author has not signed up yet (or every user reviewed it)."""
        k = self.taken[product]
        if k >= self.users:
            return None
        position = (product * 31 + k * self.stride) % self.users
        if position >= signed_up:
            return None
        self.taken[product] = k + 1
        return position


def _review_events(
    seed: int, count: int, user_times: Timeline, facts: ProductFacts
) -> Iterator[tuple[int, int, int, int]]:
    """(seconds, product index, user index, rating) of each review, in order of time."""
    if not count:
        return
    rng = _rng(seed, "reviews")
    authors = _Authors(len(user_times.seconds), len(facts.prices))
    # From when half the users have signed up: a product's next author (its permutation's
    # next user) has then mostly signed up, and few draws are wasted.
    start = max(
        facts.timeline.sorted_seconds[0],
        user_times.sorted_seconds[len(user_times.sorted_seconds) // 2],
    )
    ratings = _Weights(RATING_WEIGHTS)
    made = 0
    failures = 0
    position = 0.0  # where in the history the next review falls, in reviews
    while made < count:
        seconds = min(_spread(rng, position, count, start), HISTORY_SECONDS)
        available = facts.timeline.existing(seconds)
        spot = rng.random() * facts.popularity[available - 1]
        product = facts.timeline.by_time[bisect.bisect_right(facts.popularity, spot, 0, available)]
        author = authors.next(product, user_times.existing(seconds))
        drawn = 1 + ratings.pick(rng)
        if author is None:
            # Early on, few users and products exist: let time move on a little.
            position += 0.05
            failures += 1
            if failures > 100 * count + 10_000:
                raise ValueError("too many reviews for these users and products")
            continue
        rating = max(1, min(5, drawn + facts.leanings[product]))
        yield seconds, product, user_times.by_time[author], rating
        made += 1
        position = max(position + 1, made)


@dataclass
class ReviewPlan:
    """Every review drawn once, in compact columns (13 bytes a review, 26 MB for two
    million), and each product's figures from them: the products are written with their
    figures before the reviews that make them."""

    seconds: array[int] = field(default_factory=lambda: array("i"))
    products: array[int] = field(default_factory=lambda: array("i"))
    users: array[int] = field(default_factory=lambda: array("i"))
    ratings: array[int] = field(default_factory=lambda: array("b"))
    counts: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    @property
    def figures(self) -> tuple[list[int], list[int]]:
        return self.counts, self.totals


def plan_reviews(seed: int, count: int, user_times: Timeline, facts: ProductFacts) -> ReviewPlan:
    """Draw the reviews, and add up each product's review count and rating total."""
    plan = ReviewPlan(counts=[0] * len(facts.prices), totals=[0] * len(facts.prices))
    for seconds, product, user, rating in _review_events(seed, count, user_times, facts):
        plan.seconds.append(seconds)
        plan.products.append(product)
        plan.users.append(user)
        plan.ratings.append(rating)
        plan.counts[product] += 1
        plan.totals[product] += rating
    return plan


def reviews(seed: int, plan: ReviewPlan) -> Iterator[Row]:
    """(id, rating, body, author_id, product_id, created) rows, in order of time."""
    words = _rng(seed, "review-words")
    events = zip(plan.seconds, plan.products, plan.users, plan.ratings, strict=True)
    for number, (seconds, product, user, rating) in enumerate(events, 1):
        body = f"{words.choice(REVIEW_OPENINGS[rating])} {words.choice(REVIEW_DETAILS)}"
        yield number, rating, body, user + 1, product + 1, _at(seconds)


@dataclass
class OrderRows:
    """One order and its lines, as rows."""

    order: Row
    items: list[Row]


def orders(
    seed: int, count: int, user_times: Timeline, facts: ProductFacts, currency: str
) -> Iterator[OrderRows]:
    """Orders (ids in order of time, public ids random) of products that existed then.

    Order rows are (id, public_id, number, customer_id, status, cancel_reason,
    total_minor, currency, created); item rows (id, order_id, product_id, quantity,
    unit_price_minor).
    """
    if not count:
        return
    rng = _rng(seed, "orders")
    start = max(facts.timeline.sorted_seconds[0], user_times.sorted_seconds[0])
    item_id = 0
    for number in range(1, count + 1):
        seconds = _spread(rng, number - 1, count, start)
        customer = user_times.by_time[rng.randrange(user_times.existing(seconds))]
        available = facts.timeline.existing(seconds)
        wanted = rng.choices(range(1, 5), weights=ITEM_COUNT_WEIGHTS)[0]
        items: list[Row] = []
        total = 0
        for position in rng.sample(range(available), min(wanted, available)):
            product = facts.timeline.by_time[position]
            quantity = rng.choices(range(1, 6), weights=QUANTITY_WEIGHTS)[0]
            price = facts.prices[product]
            item_id += 1
            items.append((item_id, number, product + 1, quantity, price))
            total += price * quantity
        status, reason = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        public_id = f"{rng.getrandbits(128):032x}"
        order = (
            number,
            public_id,
            order_number(public_id),
            customer + 1,
            status.value,
            reason.value if reason else None,
            total,
            currency,
        )
        yield OrderRows((*order, _at(seconds)), items)

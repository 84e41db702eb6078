"""The rows of a seed, made as streams: each table's rows come a batch at a time.

Everything comes from random generators seeded by (seed, table) and from a fixed base
date, never from the clock, so the same seed gives the same rows on every database.
Nothing holds a table's rows: what later tables need of earlier ones (when each
product and user appeared, prices, popularity, rating figures) is kept in per-id
lists and arrays, a few numbers per product and user (where building every row as a
model took 1.5 GB for the 100x catalog).

Reviews get ids in order of time (the newest has the highest id), at most one per
author and product. Each product's rating figures must be on its row when it is
written: the products' facts are drawn first (`product_facts`), then the reviews,
which add up the figures, then the product rows (the seed checks the keys after).
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
_NEVER = HISTORY_SECONDS + 1  # later than any moment of the history


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


@dataclass(frozen=True)
class _ProductDraw:
    """What the random generator chose for one product."""

    category: Row | None
    sells: Assortment
    adjective: str
    name: str
    use: str
    feature: str
    price: int
    stock: int
    seconds: int
    leaning: int
    popularity: float


def _product_draws(
    seed: int, count: int, categories: list[Row], assortment: dict[int, Assortment]
) -> Iterator[_ProductDraw]:
    """The draws of each product, in the leaf categories (or the roots when there are no
    leaves): made twice, once for the facts, once for the rows (after the reviews)."""
    rng = _rng(seed, "products")
    leaves = [row for row in categories if row[3] is not None] or categories
    for _ in range(count):
        category = rng.choice(leaves) if leaves else None
        sells = assortment[category[0]] if category else DEPARTMENTS[0].everything()
        adjective = rng.choice(ADJECTIVES)
        name = f"{adjective} {rng.choice(COLOURS)} {rng.choice(sells.nouns)}"
        use, feature = rng.choice(USES), rng.choice(FEATURES)
        price = _price_minor(rng, *sells.department.price_range_minor)
        stock = 0 if rng.random() < 0.08 else rng.randint(1, 200)
        seconds = rng.randint(0, CATALOG_SECONDS)
        leaning = max(-2, min(1, round(rng.gauss(0, 0.7))))
        popularity = min(rng.paretovariate(1.5), 20.0)
        yield _ProductDraw(
            category, sells, adjective, name, use, feature, price, stock, seconds, leaning,
            popularity,
        )  # fmt: skip


def product_facts(
    seed: int, count: int, categories: list[Row], assortment: dict[int, Assortment]
) -> ProductFacts:
    """The products' facts, with the timeline indexed and the popularity cumulative in
    its order."""
    facts = ProductFacts()
    for drawn in _product_draws(seed, count, categories, assortment):
        facts.timeline.add(drawn.seconds)
        facts.prices.append(drawn.price)
        facts.leanings.append(drawn.leaning)
        facts.popularity.append(drawn.popularity)
    facts.timeline.index()
    weights = [facts.popularity[index] for index in facts.timeline.by_time]
    facts.popularity = list(itertools.accumulate(weights))
    return facts


def products(
    seed: int,
    count: int,
    categories: list[Row],
    assortment: dict[int, Assortment],
    currency: str,
    figures: RatingFigures,
) -> Iterator[Row]:
    """Product rows, with each product's review count and rating total from `figures`."""
    slugs: set[str] = set()
    for number, drawn in enumerate(_product_draws(seed, count, categories, assortment), 1):
        name = drawn.name
        slug = slugify(name)
        if slug in slugs:
            slug = f"{slug}-{number}"
        slugs.add(slug)
        sku = f"{drawn.sells.department.code}-{number:05d}"
        description = (
            f"The {name} is a {drawn.adjective.lower()} choice for {drawn.use}. {drawn.feature}"
        )
        reviews, total = figures.counts[number - 1], figures.totals[number - 1]
        searched = search_columns(name, sku, description)
        yield (
            number,
            sku,
            name,
            slug,
            description,
            drawn.price,
            currency,
            drawn.stock,
            drawn.category[0] if drawn.category else None,
            reviews,
            total,
            total / reviews if reviews else 0.0,
            searched["search_name"],
            searched["search_text"],
            _at(drawn.seconds),
        )


def _spread(rng: random.Random, number: float, count: int, start: int) -> int:
    """The moment of the `number`-th of `count` events from `start` to the end of the
    history: increasing with `number`, so ids follow time."""
    return start + int((HISTORY_SECONDS - start) * (number + rng.random()) / count)


class _Authors:
    """Distinct authors per product: the k-th review of a product is by the k-th user of
    that product's own permutation of the users (a product waits for that user to sign
    up), with no set of the pairs taken. Products by their place in `timeline.by_time`."""

    def __init__(self, user_times: Timeline, products: Timeline) -> None:
        self.signups = user_times.sorted_seconds
        self.users = len(self.signups)
        self.products = products.by_time
        self.taken = array("l", bytes(8 * len(self.products)))
        self.stride = next(
            step for step in (7919, 104729, 1299709, 1) if math.gcd(step, self.users) == 1
        )
        # When each product's next author signs up (`_NEVER` once every user reviewed it):
        # the draw loop's test, without a search of the sign-ups.
        self.ready = array("l", (self.signups[p * 31 % self.users] for p in self.products))

    def take(self, place: int) -> int:
        """The next author (a user index in sign-up order) of the product at `place`."""
        product, k = self.products[place], self.taken[place]
        author = (product * 31 + k * self.stride) % self.users
        self.taken[place] = k = k + 1
        self.ready[place] = (
            self.signups[(product * 31 + k * self.stride) % self.users]
            if k < self.users
            else _NEVER
        )
        return author


class _Popularity:
    """The place of a product drawn by popularity: `bisect_right(cumulative, spot)`, found
    in the few places a guide table gives for the spot's neighbourhood (a search of all
    of them took most of the reviews' time, a cache miss per step)."""

    def __init__(self, cumulative: list[float]) -> None:
        self.cumulative = array("d", cumulative)
        buckets = len(cumulative)
        width = cumulative[-1] / buckets
        self.scale = buckets / cumulative[-1]
        # For bucket j, whose spots are in [j, j + 1) widths: from where a spot one
        # width lower would be to where one two widths higher would be (a margin for
        # rounding); lower and upper bound side by side, one cache line.
        self.guide = array("l")
        for bucket in range(buckets + 2):
            self.guide.append(
                bisect.bisect_right(cumulative, (bucket - 1) * width) if bucket else 0
            )
            self.guide.append(
                min(buckets, bisect.bisect_right(cumulative, (bucket + 2) * width) + 1)
            )


def _review_events(
    seed: int, count: int, user_times: Timeline, facts: ProductFacts
) -> Iterator[tuple[int, int, int, int]]:
    """(seconds, product index, user index, rating) of each review, in order of time.

    Millions of draws for the 100x catalog (about six per review, most of them waiting
    for a product's next author to sign up): the loop keeps to local names, arrays and
    C searches over a few entries, and gives the same draws as a plainer one would.
    """
    if not count:
        return
    random = _rng(seed, "reviews").random
    authors = _Authors(user_times, facts.timeline)
    ready, users_by_time, by_time = authors.ready, user_times.by_time, facts.timeline.by_time
    popularity = _Popularity(facts.popularity)
    cumulative, guide, scale = popularity.cumulative, popularity.guide, popularity.scale
    # From when half the users have signed up: a product's next author (its permutation's
    # next user) has then mostly signed up, and fewer draws are wasted.
    start = max(
        facts.timeline.sorted_seconds[0],
        user_times.sorted_seconds[len(user_times.sorted_seconds) // 2],
    )
    span = HISTORY_SECONDS - start
    appeared = facts.timeline.sorted_seconds
    everything, all_appeared = len(appeared), appeared[-1]
    # A weighted rating by bisection (`random.choices` adds up the weights on every call).
    rating_steps = list(itertools.accumulate(RATING_WEIGHTS))
    rating_total = rating_steps[-1]
    leanings = facts.leanings
    bisect_right = bisect.bisect_right
    made = 0
    failures = 0
    most_failures = 100 * count + 10_000
    position = 0.0  # where in the history the next review falls, in reviews
    while made < count:
        # A moment (`_spread`), a product among those that exist by then, a rating:
        # three draws, whether or not the review can be written.
        seconds = start + int(span * (position + random()) / count)
        if seconds > HISTORY_SECONDS:
            seconds = HISTORY_SECONDS
        available = everything if seconds >= all_appeared else bisect_right(appeared, seconds)
        spot = random() * cumulative[available - 1]
        bucket = 2 * int(spot * scale)
        place = bisect_right(cumulative, spot, guide[bucket], guide[bucket + 1])
        rating_spot = random() * rating_total
        if ready[place] > seconds:
            # Early on, few users and products exist: let time move on a little.
            position += 0.05
            failures += 1
            if failures > most_failures:
                raise ValueError("too many reviews for these users and products")
            continue
        product = by_time[place]
        drawn = 1 + bisect_right(rating_steps, rating_spot)
        rating = max(1, min(5, drawn + leanings[product]))
        yield seconds, product, users_by_time[authors.take(place)], rating
        made += 1
        position = max(position + 1, made)


@dataclass
class RatingFigures:
    """Each product's review count and rating total, by index (id - 1), as its reviews
    are made."""

    counts: list[int]
    totals: list[int]

    @classmethod
    def empty(cls, products: int) -> RatingFigures:
        return cls([0] * products, [0] * products)


def reviews(
    seed: int, count: int, user_times: Timeline, facts: ProductFacts, figures: RatingFigures
) -> Iterator[Row]:
    """(id, rating, body, author_id, product_id, created) rows, in order of time; adds
    each review to its product's `figures`."""
    words = _rng(seed, "review-words")
    events = _review_events(seed, count, user_times, facts)
    for number, (seconds, product, user, rating) in enumerate(events, 1):
        figures.counts[product] += 1
        figures.totals[product] += rating
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

"""Orders: who may read which, checkout, cancellation and status changes.

Stock never goes below zero, whatever runs at the same time on however many instances:
an order takes each product's quantity with a conditional UPDATE (`stock >= quantity`)
and checks that it changed a row. Every transaction that changes stock touches products
in product-id order, so two of them never wait on each other's rows (no deadlock).

An unpaid (PENDING) order holds its stock until its hold ends (`hold_expires_at`); then
`expire_orders` cancels it (reason EXPIRED) and returns its stock. One customer may hold
at most so many units in unpaid orders together; a customer's checkouts take turns (a
lock on their user row), so two at once cannot both slip under the limit.

Status moves forward only: PENDING → PAID → SHIPPED → DELIVERED. Skipping ahead is
allowed (staff may record an order as delivered that was never marked shipped); going
back, staying put, and any change after DELIVERED or CANCELLED are not. CANCELLED is
reached from PENDING or PAID only, and returns every item's quantity to stock. Each
change is a conditional UPDATE on the statuses it may move from, so of two concurrent
changes (a customer's cancel, staff's update, any number of expiry sweeps) only one can
win, and stock comes back once.

Orders are known outside by their random `public_id`. Someone else's order answers
exactly as a missing one does: its existence is not the caller's business.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from auth.resource import Viewer
from auth.scopes import Scope
from events import Broker
from loaders import Loaders
from models.accounts import User
from models.catalog import Product
from models.orders import CancelReason, Order, OrderItem, OrderStatus
from resolvers.errors import Forbidden, NotFound, Unauthenticated
from resolvers.pagination import Limits, ListOrder, Page, PageArgs, keyset_page
from resolvers.problems import Problem, ProblemCode, Rejected, check_text, reject

MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_KEY_LENGTH = 128
# The largest total an order may have: what `resolvers.money` accepts as an amount.
MAX_TOTAL_MINOR = 10**15

# Crockford's base32 (no I, L, O or U, easy to read out on the phone); 10 characters are
# the first 50 of the public id's random bits: numbers cannot be guessed from one another.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_LENGTH = 10
PUBLIC_ID = re.compile(r"[0-9a-f]{32}")
# Expired orders cancelled per transaction: bounds how long a sweep holds row locks.
EXPIRY_BATCH = 200

# Newest first; ids grow with time, so the id alone is a stable order, indexed with the
# customer (`order_customer_id_idx`). `orders` and `User.orders` share it, so a cursor of
# either list is valid in the other.
ORDERS = ListOrder(kind="orders", columns=("id",), types=(int,), descending=True)

_FORWARD = (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
CANCELLABLE = (OrderStatus.PENDING, OrderStatus.PAID)


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class CheckoutRules:
    """The store's settings for placing orders."""

    currency: str
    hold_seconds: int
    max_units_held: int


@dataclass(frozen=True)
class Expiry:
    """What a sweep changed: the orders it cancelled (as they are now) and, per product
    id, the units that went back into stock."""

    orders: list[Order]
    restocked: dict[int, int]


# ---------------------------------------------------------------- who may read orders


def manages_orders(viewer: Viewer) -> bool:
    """Staff, or a client acting as itself, holding `orders:manage`: every order is theirs
    to read and manage."""
    return viewer.has_scope(Scope.ORDERS_MANAGE) and viewer.acts_as_staff


def _require_reader(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated(
            f"Reading orders needs a bearer token with the `{Scope.ORDERS_READ}` scope"
        )
    if manages_orders(viewer) or (viewer.has_scope(Scope.ORDERS_READ) and not viewer.is_client):
        return viewer
    raise Forbidden(
        f"Reading orders needs the `{Scope.ORDERS_READ}` scope (your own) "
        f"or `{Scope.ORDERS_MANAGE}` (staff)"
    )


def _owns_or_manages(viewer: Viewer, customer_id: int) -> bool:
    return viewer.user_id == customer_id or manages_orders(viewer)


def authorize_read(viewer: Viewer | None, customer_id: int) -> None:
    """Raise UNAUTHENTICATED or FORBIDDEN unless `viewer` may read `customer_id`'s orders."""
    if not _owns_or_manages(_require_reader(viewer), customer_id):
        raise Forbidden("You may read only your own orders")


def readable(viewer: Viewer | None, order: Any | None) -> Any | None:
    """`order` (a model or a loader's row) when the caller may read it, else None: someone
    else's order looks missing. UNAUTHENTICATED or FORBIDDEN when the caller may read no
    order at all, whether or not this one exists."""
    reader = _require_reader(viewer)
    if order is None or not _owns_or_manages(reader, order.customer_id):
        return None
    return order


async def list_orders(
    viewer: Viewer | None,
    status: OrderStatus | None,
    args: PageArgs,
    limits: Limits,
    *,
    with_total: bool,
) -> Page[Order]:
    """The caller's own orders, or every order for staff; newest first."""
    reader = _require_reader(viewer)
    matching = Order.all() if manages_orders(reader) else Order.filter(customer_id=reader.user_id)
    if status is not None:
        matching = matching.filter(status=status)
    return await keyset_page(matching, ORDERS, args, limits, with_total=with_total)


async def find_order(viewer: Viewer | None, loaders: Loaders, public_id: str) -> Order | None:
    """One order, when it exists and the caller may read it."""
    _require_reader(viewer)  # before any query: a refused caller costs no statement
    found: Order | None = readable(viewer, await loaders.order_by_public_id.load(public_id))
    return found


async def followable_order(viewer: Viewer | None, loaders: Loaders, public_id: str) -> Order:
    """The order whose status changes `viewer` may follow: their own (`orders:read`), or
    any for staff. Someone else's order is NOT_FOUND, exactly like a missing one."""
    order = await find_order(viewer, loaders, public_id)
    if order is None:
        raise NotFound("No order with this ID is visible to you")
    return order


# ---------------------------------------------------------------- checkout


def new_public_id() -> str:
    """128 random bits, as 32 hex digits."""
    return secrets.token_hex(16)


def order_number(public_id: str) -> str:
    """What the customer quotes: the first 50 bits of the public id in Crockford base32."""
    bits = int(public_id[:13], 16) >> 2
    digits = [
        _NUMBER_ALPHABET[(bits >> (5 * place)) & 31] for place in reversed(range(_NUMBER_LENGTH))
    ]
    return "SF-" + "".join(digits)


def _line_path(index: int, field: str) -> tuple[str, ...]:
    return ("input", "items", str(index), field)


def _check_order(lines: Sequence[OrderLine], idempotency_key: str | None) -> list[Problem]:
    """Problems of an order's input that need no database."""
    items = ("input", "items")
    if not lines:
        return [Problem(items, "An order needs at least one item", ProblemCode.REQUIRED)]
    if len(lines) > MAX_LINES:
        message = f"An order may have at most {MAX_LINES} items, got {len(lines)}"
        return [Problem(items, message, ProblemCode.OUT_OF_RANGE)]
    problems: list[Problem] = []
    first_index: dict[int, int] = {}
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_QUANTITY:
            message = f"`quantity` must be between 1 and {MAX_QUANTITY}, got {line.quantity}"
            problems.append(
                Problem(_line_path(index, "quantity"), message, ProblemCode.OUT_OF_RANGE)
            )
        earlier = first_index.setdefault(line.product_id, index)
        if earlier != index:
            message = f"This product is already in item {earlier}: order its whole quantity there"
            problems.append(
                Problem(_line_path(index, "productId"), message, ProblemCode.DUPLICATE_PRODUCT)
            )
    if idempotency_key is not None:
        problems += check_text(
            idempotency_key, ("input", "idempotencyKey"), max_length=MAX_KEY_LENGTH
        )
    return problems


async def place_order(
    customer_id: int,
    lines: Sequence[OrderLine],
    idempotency_key: str | None,
    rules: CheckoutRules,
    broker: Broker,
) -> Order:
    """Place an order, all or nothing; `Rejected` when the user must change something.

    The same `idempotency_key` from the same customer returns the first order, also when
    both requests run at the same time: the customer's checkouts take turns, and where
    the lock cannot serve (SQLite shared by several processes), the unique (customer,
    key) constraint fails the later insert, whose transaction then rolls back.
    """
    problems = _check_order(lines, idempotency_key)
    if problems:
        raise Rejected(problems)
    try:
        order, placed = await _place(customer_id, lines, idempotency_key, rules)
    except IntegrityError:
        first = await _first_with_key(customer_id, idempotency_key)
        if first is None:
            raise
        return first
    if placed:  # the first order of an idempotency key moved stock; its repeats did not
        await broker.publish_inventory((line.product_id, -line.quantity) for line in lines)
    return order


async def _first_with_key(
    customer_id: int, idempotency_key: str | None, connection: BaseDBAsyncClient | None = None
) -> Order | None:
    if idempotency_key is None:
        return None
    found: Order | None = (
        await Order.filter(customer_id=customer_id, idempotency_key=idempotency_key)
        .using_db(connection)
        .first()
    )
    return found


async def _place(
    customer_id: int,
    lines: Sequence[OrderLine],
    idempotency_key: str | None,
    rules: CheckoutRules,
) -> tuple[Order, bool]:
    """The order, and whether it is new (not the first one of its idempotency key)."""
    now = timezone.now()
    async with in_transaction() as connection:
        # The customer's other checkouts wait here until this one commits: what they hold
        # is then what this one read (SQLite runs one transaction at a time anyway).
        await User.filter(id=customer_id).using_db(connection).select_for_update().only("id")
        first = await _first_with_key(customer_id, idempotency_key, connection)
        if first is not None:
            return first, False
        await _check_units_held(customer_id, lines, rules.max_units_held, now, connection)
        products = await _products_for(lines, rules.currency, connection)
        prices = {line.product_id: products[line.product_id].price_minor for line in lines}
        total = sum(prices[line.product_id] * line.quantity for line in lines)
        if total > MAX_TOTAL_MINOR:
            raise reject(
                ("input", "items"), "The order's total is too large", ProblemCode.OUT_OF_RANGE
            )
        # The rows are written before the stock is taken: a concurrent request with the
        # same idempotency key fails on the order row before it locks any product, and a
        # product's row stays locked only from its decrement to the commit.
        public_id = new_public_id()
        order = await Order.create(
            public_id=public_id,
            number=order_number(public_id),
            customer_id=customer_id,
            idempotency_key=idempotency_key,
            hold_expires_at=now + timedelta(seconds=rules.hold_seconds),
            total_minor=total,
            currency=rules.currency,
            using_db=connection,
        )
        await OrderItem.bulk_create(
            [
                OrderItem(
                    order_id=order.id,
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price_minor=prices[line.product_id],
                )
                for line in lines
            ],
            using_db=connection,
        )
        await _take_stock(lines, products, connection)
    return order, True


async def _check_units_held(
    customer_id: int,
    lines: Sequence[OrderLine],
    max_units: int,
    now: datetime,
    connection: BaseDBAsyncClient,
) -> None:
    """`Rejected` (LIMIT_EXCEEDED) when the order would take the customer's units held in
    unpaid orders past `max_units`. Orders whose hold is over count no more: the next
    sweep cancels them."""
    held = (
        await OrderItem.filter(
            order__customer_id=customer_id,
            order__status=OrderStatus.PENDING,
            order__hold_expires_at__gt=now,
        )
        .using_db(connection)
        .values_list("quantity", "order__hold_expires_at")
    )
    units_held = sum(quantity for quantity, _ in held)
    adding = sum(line.quantity for line in lines)
    if units_held + adding <= max_units:
        return
    message = f"Unpaid orders may hold at most {max_units} units at a time; this one has {adding}"
    if held:
        first_end = min(until for _, until in held).strftime("%Y-%m-%dT%H:%M:%SZ")
        message += (
            f" and you already hold {units_held} units in unpaid orders, until "
            f"{first_end} for the first of them. Pay for or cancel an order, or wait"
        )
    raise reject(("input", "items"), message, ProblemCode.LIMIT_EXCEEDED)


async def _products_for(
    lines: Sequence[OrderLine], currency: str, connection: BaseDBAsyncClient
) -> dict[int, Product]:
    """The lines' products, read in the order's transaction (their prices are captured)."""
    wanted = [line.product_id for line in lines]
    products = {
        product.id: product for product in await Product.filter(id__in=wanted).using_db(connection)
    }
    problems: list[Problem] = []
    for index, line in enumerate(lines):
        product = products.get(line.product_id)
        path = _line_path(index, "productId")
        if product is None:
            problems.append(Problem(path, "No product has this ID", ProblemCode.NOT_FOUND))
        elif product.currency != currency:
            message = (
                f"{product.name} is priced in {product.currency}; "
                f"this store takes orders in {currency}"
            )
            problems.append(Problem(path, message, ProblemCode.PRODUCT_UNAVAILABLE))
    if problems:
        raise Rejected(problems)
    return products


async def _take_stock(
    lines: Sequence[OrderLine], products: dict[int, Product], connection: BaseDBAsyncClient
) -> None:
    """Decrement each line's stock, never below zero; `Rejected` naming every short line."""
    short: list[Problem] = []
    for index, line in sorted(enumerate(lines), key=lambda pair: pair[1].product_id):
        taken = (
            await Product.filter(id=line.product_id, stock__gte=line.quantity)
            .using_db(connection)
            .update(stock=F("stock") - line.quantity)
        )
        if taken != 1:
            product = products[line.product_id]
            message = f"Not enough {product.name} ({product.sku}) in stock for {line.quantity}"
            short.append(Problem(_line_path(index, "quantity"), message, ProblemCode.OUT_OF_STOCK))
    if short:
        raise Rejected(sorted(short, key=lambda problem: problem.field or ()))


# ---------------------------------------------------------------- status changes


async def cancel_order(viewer: Viewer, public_id: str, broker: Broker) -> Order:
    """Cancel one's own order (staff: any order) while PENDING or PAID; stock comes back.
    Someone else's order is refused exactly as a missing one."""
    order = await Order.get_or_none(public_id=public_id)
    if order is None or not _owns_or_manages(viewer, order.customer_id):
        raise _no_such_order()
    reason = CancelReason.CUSTOMER if order.customer_id == viewer.user_id else CancelReason.STAFF
    return await _move(order, OrderStatus.CANCELLED, ("input", "id"), reason, broker)


async def update_order_status(public_id: str, status: OrderStatus, broker: Broker) -> Order:
    """Move an order's status forward (staff; the caller checks). See the module's rules."""
    order = await Order.get_or_none(public_id=public_id)
    if order is None:
        raise _no_such_order()
    return await _move(order, status, ("input", "status"), CancelReason.STAFF, broker)


def _no_such_order() -> Rejected:
    return reject(("input", "id"), "No order has this ID", ProblemCode.NOT_FOUND)


def _sources(target: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order may move to `target` from."""
    if target is OrderStatus.CANCELLED:
        return CANCELLABLE
    return _FORWARD[: _FORWARD.index(target)]


def _changes(target: OrderStatus, reason: CancelReason, now: datetime) -> dict[str, Any]:
    """The columns a move to `target` writes: an order leaving PENDING holds nothing."""
    return {
        "status": target,
        "updated_at": now,
        "hold_expires_at": None,
        "cancel_reason": reason if target is OrderStatus.CANCELLED else None,
    }


async def _move(
    order: Order, target: OrderStatus, field: Sequence[str], reason: CancelReason, broker: Broker
) -> Order:
    changes = _changes(target, reason, timezone.now())
    restocked: dict[int, int] = {}
    async with in_transaction() as connection:
        moved = (
            await Order.filter(id=order.id, status__in=_sources(target))
            .using_db(connection)
            .update(**changes)
        )
        if not moved:
            current = await Order.filter(id=order.id).using_db(connection).get()
            raise reject(field, _refusal(current, target), ProblemCode.INVALID_STATUS_TRANSITION)
        if target is OrderStatus.CANCELLED:
            restocked = await _restock([order.id], connection)
    await broker.publish_order_status(order.public_id, restocked.items())
    for name, value in changes.items():
        setattr(order, name, value)
    return order


def _refusal(order: Order, target: OrderStatus) -> str:
    rule = (
        "only PENDING or PAID orders can be cancelled"
        if target is OrderStatus.CANCELLED
        else "an order's status only moves forward: PENDING, PAID, SHIPPED, DELIVERED"
    )
    return f"Order {order.number} is {order.status.value} and cannot become {target.value}: {rule}"


async def _restock(order_ids: Iterable[int], connection: BaseDBAsyncClient) -> dict[int, int]:
    """Return the orders' items to stock; the units each product got back. Items of
    deleted products have none to return."""
    items = (
        await OrderItem.filter(order_id__in=list(order_ids), product_id__isnull=False)
        .using_db(connection)
        .values_list("product_id", "quantity")
    )
    quantities: Counter[int] = Counter()
    for product_id, quantity in items:
        quantities[product_id] += quantity
    for product_id in sorted(quantities):
        await (
            Product.filter(id=product_id)
            .using_db(connection)
            .update(stock=F("stock") + quantities[product_id])
        )
    return dict(quantities)


# ---------------------------------------------------------------- holds that end


async def expire_orders(broker: Broker, now: datetime | None = None) -> Expiry:
    """Cancel (reason EXPIRED) every PENDING order whose hold ended before `now`, and
    return its stock; what changed, told to `broker` after each batch commits. Safe to
    run on several instances at once: each order moves in a conditional UPDATE that only
    one of them can win."""
    now = now or timezone.now()
    orders: list[Order] = []
    restocked: Counter[int] = Counter()
    while True:
        due, batch = await _expire_batch(now)
        for order in batch.orders:
            await broker.publish_order_status(order.public_id)
        await broker.publish_inventory(batch.restocked.items())
        orders += batch.orders
        restocked.update(batch.restocked)
        if due < EXPIRY_BATCH:
            return Expiry(orders=orders, restocked=dict(restocked))


async def _expire_batch(now: datetime) -> tuple[int, Expiry]:
    """Expire up to EXPIRY_BATCH due orders in one transaction; (how many were due, what
    this sweep changed). Order rows are locked in id order, then products in id order,
    as every other transaction on them does."""
    changes = _changes(OrderStatus.CANCELLED, CancelReason.EXPIRED, now)
    async with in_transaction() as connection:
        due = cast(
            list[int],
            await Order.filter(status=OrderStatus.PENDING, hold_expires_at__lt=now)
            .using_db(connection)
            .order_by("id")
            .limit(EXPIRY_BATCH)
            .values_list("id", flat=True),
        )
        # The same condition again, row by row: of several sweeps that saw the order due,
        # the first to update it wins; the others wait for its commit and change nothing.
        expired = [
            order_id
            for order_id in due
            if await Order.filter(id=order_id, status=OrderStatus.PENDING, hold_expires_at__lt=now)
            .using_db(connection)
            .update(**changes)
        ]
        restocked = await _restock(expired, connection) if expired else {}
        orders = await Order.filter(id__in=expired).using_db(connection).order_by("id")
    return len(due), Expiry(orders=list(orders), restocked=restocked)

"""Orders: who may read which, checkout, cancellation and status changes.

Stock never goes below zero, whatever runs at the same time on however many instances:
an order takes each product's quantity with a conditional UPDATE (`stock >= quantity`)
and checks that it changed a row. Every transaction that changes stock touches products
in product-id order, so two of them never wait on each other's rows (no deadlock).

Status moves forward only: PENDING → PAID → SHIPPED → DELIVERED. Skipping ahead is
allowed (staff may record an order as delivered that was never marked shipped); going
back, staying put, and any change after DELIVERED or CANCELLED are not. CANCELLED is
reached from PENDING or PAID only, and returns every item's quantity to stock. Each
change is a conditional UPDATE on the statuses it may move from, so of two concurrent
changes only one can win.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from tortoise import timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from auth.resource import Viewer
from events import Broker
from loaders import Loaders
from models.catalog import Product
from models.orders import Order, OrderItem, OrderStatus
from resolvers.errors import Forbidden, NotFound, Unauthenticated
from resolvers.pagination import Limits, ListOrder, Page, PageArgs, keyset_page
from resolvers.problems import Problem, ProblemCode, Rejected, check_text, reject

READ_SCOPE = "orders:read"
WRITE_SCOPE = "orders:write"
MANAGE_SCOPE = "orders:manage"

MAX_LINES = 50
MAX_QUANTITY = 1000
MAX_KEY_LENGTH = 128
# The largest total an order may have: what `resolvers.money` accepts as an amount.
MAX_TOTAL_MINOR = 10**15

# Crockford's base32 (no I, L, O or U, easy to read out on the phone); 10 characters are
# 50 random bits: order numbers are unique and cannot be guessed from one another.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_LENGTH = 10

# Newest first. Must match loaders.orders.ORDERS_OF_CUSTOMER, the order `User.orders`
# is fetched in, so a cursor of either list is valid in the other.
ORDERS = ListOrder(kind="orders", columns=("id",), types=(int,), descending=True)

_FORWARD = (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
CANCELLABLE = (OrderStatus.PENDING, OrderStatus.PAID)


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int


# ---------------------------------------------------------------- who may read orders


def manages_orders(viewer: Viewer) -> bool:
    """Staff, or a client acting as itself, holding `orders:manage`: every order is theirs
    to read and manage."""
    return viewer.has_scope(MANAGE_SCOPE) and viewer.acts_as_staff


def _require_reader(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated(f"Reading orders needs a bearer token with the `{READ_SCOPE}` scope")
    if manages_orders(viewer) or (viewer.has_scope(READ_SCOPE) and not viewer.is_client):
        return viewer
    raise Forbidden(
        f"Reading orders needs the `{READ_SCOPE}` scope (your own) or `{MANAGE_SCOPE}` (staff)"
    )


def authorize_read(viewer: Viewer | None, customer_id: int) -> None:
    """Raise UNAUTHENTICATED or FORBIDDEN unless `viewer` may read `customer_id`'s orders."""
    reader = _require_reader(viewer)
    if reader.user_id != customer_id and not manages_orders(reader):
        raise Forbidden("You may read only your own orders")


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


async def find_order(viewer: Viewer | None, loaders: Loaders, order_id: int) -> Order | None:
    """One order, when it exists and the caller may read it."""
    reader = _require_reader(viewer)
    order: Order | None = await loaders.order_by_id.load(order_id)
    if order is not None:
        authorize_read(reader, order.customer_id)
    return order


async def followable_order(viewer: Viewer | None, loaders: Loaders, order_id: int) -> Order:
    """The order whose status changes `viewer` may follow: their own (`orders:read`), or
    any for staff. Someone else's order is NOT_FOUND, exactly like a missing one."""
    reader = _require_reader(viewer)
    order: Order | None = await loaders.order_by_id.load(order_id)
    if order is None or (order.customer_id != reader.user_id and not manages_orders(reader)):
        raise NotFound("No order with this ID is visible to you")
    return order


# ---------------------------------------------------------------- checkout


def new_order_number() -> str:
    return "SF-" + "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(_NUMBER_LENGTH))


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
    currency: str,
    broker: Broker,
) -> Order:
    """Place an order, all or nothing; `Rejected` when the user must change something.

    The same `idempotency_key` from the same customer returns the first order, also when
    both requests run at the same time: the unique (customer, key) constraint fails the
    later insert, whose transaction then rolls back, stock included.
    """
    problems = _check_order(lines, idempotency_key)
    if problems:
        raise Rejected(problems)
    first = await _first_with_key(customer_id, idempotency_key)
    if first is not None:
        return first
    try:
        order = await _place(customer_id, lines, idempotency_key, currency)
    except IntegrityError:
        first = await _first_with_key(customer_id, idempotency_key)
        if first is None:
            raise
        return first
    await broker.publish_inventory((line.product_id, -line.quantity) for line in lines)
    return order


async def _first_with_key(customer_id: int, idempotency_key: str | None) -> Order | None:
    if idempotency_key is None:
        return None
    return await Order.get_or_none(customer_id=customer_id, idempotency_key=idempotency_key)


async def _place(
    customer_id: int, lines: Sequence[OrderLine], idempotency_key: str | None, currency: str
) -> Order:
    async with in_transaction() as connection:
        products = await _products_for(lines, currency, connection)
        prices = {line.product_id: products[line.product_id].price_minor for line in lines}
        total = sum(prices[line.product_id] * line.quantity for line in lines)
        if total > MAX_TOTAL_MINOR:
            raise reject(
                ("input", "items"), "The order's total is too large", ProblemCode.OUT_OF_RANGE
            )
        # The rows are written before the stock is taken: a concurrent request with the
        # same idempotency key fails on the order row before it locks any product, and a
        # product's row stays locked only from its decrement to the commit.
        order = await Order.create(
            number=new_order_number(),
            customer_id=customer_id,
            idempotency_key=idempotency_key,
            total_minor=total,
            currency=currency,
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
    return order


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


async def cancel_order(viewer: Viewer, order_id: int, broker: Broker) -> Order:
    """Cancel one's own order (staff: any order) while PENDING or PAID; stock comes back."""
    order = await _existing(order_id)
    if order.customer_id != viewer.user_id and not manages_orders(viewer):
        raise Forbidden("This order belongs to someone else")
    return await _move(order, OrderStatus.CANCELLED, ("input", "id"), broker)


async def update_order_status(order_id: int, status: OrderStatus, broker: Broker) -> Order:
    """Move an order's status forward (staff; the caller checks). See the module's rules."""
    return await _move(await _existing(order_id), status, ("input", "status"), broker)


async def _existing(order_id: int) -> Order:
    order = await Order.get_or_none(id=order_id)
    if order is None:
        raise reject(("input", "id"), "No order has this ID", ProblemCode.NOT_FOUND)
    return order


def _sources(target: OrderStatus) -> tuple[OrderStatus, ...]:
    """The statuses an order may move to `target` from."""
    if target is OrderStatus.CANCELLED:
        return CANCELLABLE
    return _FORWARD[: _FORWARD.index(target)]


async def _move(order: Order, target: OrderStatus, field: Sequence[str], broker: Broker) -> Order:
    now = timezone.now()
    restocked: dict[int, int] = {}
    async with in_transaction() as connection:
        moved = (
            await Order.filter(id=order.id, status__in=_sources(target))
            .using_db(connection)
            .update(status=target, updated_at=now)
        )
        if not moved:
            current = await Order.filter(id=order.id).using_db(connection).get()
            raise reject(field, _refusal(current, target), ProblemCode.INVALID_STATUS_TRANSITION)
        if target is OrderStatus.CANCELLED:
            restocked = await _restock(order.id, connection)
    await broker.publish_order_status(order.id, restocked.items())
    order.status = target
    order.updated_at = now
    return order


def _refusal(order: Order, target: OrderStatus) -> str:
    rule = (
        "only PENDING or PAID orders can be cancelled"
        if target is OrderStatus.CANCELLED
        else "an order's status only moves forward: PENDING, PAID, SHIPPED, DELIVERED"
    )
    return f"Order {order.number} is {order.status.value} and cannot become {target.value}: {rule}"


async def _restock(order_id: int, connection: BaseDBAsyncClient) -> dict[int, int]:
    """Return every item's quantity to stock; items of deleted products have none.
    The quantities returned, by product id."""
    quantities: dict[int, int] = {}
    items = (
        await OrderItem.filter(order_id=order_id, product_id__isnull=False)
        .using_db(connection)
        .values_list("product_id", "quantity")
    )
    for product_id, quantity in items:
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    for product_id in sorted(quantities):
        await (
            Product.filter(id=product_id)
            .using_db(connection)
            .update(stock=F("stock") + quantities[product_id])
        )
    return quantities

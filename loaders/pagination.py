"""Keyset windows: one page of rows per parent, for many parents, in one statement.

Tortoise cannot express a window function filtered in an outer query, which is what
"the first N reviews of each of these 20 products" needs in one round trip; so this
module writes that one statement by hand, through `loaders.select`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.connection import get_connection
from tortoise.models import Model

from loaders.rows import count_per_key
from loaders.select import all_columns, column_list, placeholders, rows

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Window:
    """Which slice of an ordered list to fetch.

    `limit` rows after the keyset `after` (a tuple of the order columns' values) in the
    list's order; `backward` fetches the `limit` rows before `before` instead.
    One more row than `limit` is fetched to tell whether another page exists.
    """

    limit: int
    backward: bool = False
    after: tuple[Any, ...] | None = None
    before: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Order:
    """A list order: columns (the last one unique, as a tie-break), all one direction."""

    columns: tuple[str, ...]
    descending: bool = False


OrderT = TypeVar("OrderT", bound=Order)


@dataclass(frozen=True)
class Children(Generic[OrderT]):
    """The rows of `model` that belong to a parent through `parent_column`, in `order`:
    what a one-to-many relation pages through. `Loaders.pages` and `Loaders.counts` load
    them for many parents at once."""

    model: type[Model]
    parent_column: str
    order: OrderT

    @property
    def name(self) -> str:
        """What the loaders' metrics call these rows, e.g. `review.product_id`."""
        return f"{self.model._meta.db_table}.{self.parent_column}"

    async def load_pages(self, keys: Sequence[tuple[int, Window]]) -> list[Slice]:
        """Keys are (parent id, window): a page of each parent's children."""
        return await load_windows(self.model, self.parent_column, self.order, keys)

    async def load_counts(self, parent_ids: Sequence[int]) -> list[int]:
        return await count_per_key(self.model, self.parent_column, parent_ids)


@dataclass
class Slice:
    """What a window found: rows in list order, and whether more lie on either side."""

    rows: list[Any]
    has_next: bool
    has_previous: bool


def slice_rows(rows: list[Any], window: Window) -> Slice:
    """Trim the extra row a window fetched and put backward pages in list order."""
    more = len(rows) > window.limit
    rows = rows[: window.limit]
    if window.backward:
        rows.reverse()
        return Slice(rows, has_next=window.before is not None, has_previous=more)
    return Slice(rows, has_next=more, has_previous=window.after is not None)


async def fetch_windows(
    model: type[M],
    parent_column: str,
    parent_ids: Sequence[int],
    order: Order,
    window: Window,
) -> dict[int, Slice]:
    """For each parent, the window of its children in `order`: one SQL statement."""
    connection = get_connection(model._meta.default_connection or "default")
    if connection.capabilities.dialect == "postgres":
        sql, values = _lateral_pages(model, parent_column, parent_ids, order, window)
    else:
        sql, values = _numbered_pages(model, parent_column, parent_ids, order, window)
    _, records = await connection.execute_query(sql, values)
    grouped: dict[int, list[Any]] = {parent: [] for parent in parent_ids}
    for row in rows(model, all_columns(model), records):
        grouped[getattr(row, parent_column)].append(row)
    return {parent: slice_rows(found, window) for parent, found in grouped.items()}


def _keyset_conditions(
    order: Order, window: Window, mark: Callable[[int], str], values: list[Any]
) -> list[str]:
    """Row comparisons past the window's keysets (their values appended to `values`)."""
    conditions = []
    for keyset, later in ((window.after, True), (window.before, False)):
        if keyset is None:
            continue
        beyond = ">" if later != order.descending else "<"
        marks = ", ".join(mark(len(values) + index + 1) for index in range(len(keyset)))
        values.extend(keyset)
        conditions.append(f"({column_list(order.columns)}) {beyond} ({marks})")
    return conditions


def _ordering(order: Order, window: Window) -> str:
    direction = "DESC" if order.descending != window.backward else "ASC"
    return ", ".join(f'"{column}" {direction}' for column in order.columns)


def _numbered_pages(
    model: type[M], parent_column: str, parent_ids: Sequence[int], order: Order, window: Window
) -> tuple[str, list[Any]]:
    """SQLite: number each parent's rows with a window function, keep the first ones."""
    mark = placeholders(get_connection(model._meta.default_connection or "default"))
    selected = column_list(all_columns(model))
    values: list[Any] = list(parent_ids)
    id_marks = ", ".join(mark(index + 1) for index in range(len(values)))
    conditions = [
        f'"{parent_column}" IN ({id_marks})',
        *_keyset_conditions(order, window, mark, values),
    ]
    values.append(window.limit + 1)
    # Identifiers come from the models and this module, never from a request; every
    # value is a bound parameter.
    sql = (
        f"SELECT {selected} FROM (SELECT {selected}, "  # noqa: S608
        f'ROW_NUMBER() OVER (PARTITION BY "{parent_column}" ORDER BY {_ordering(order, window)}) '
        f'AS "_row" FROM "{model._meta.db_table}" WHERE {" AND ".join(conditions)}) AS "_page" '
        f'WHERE "_row" <= {mark(len(values))} ORDER BY "{parent_column}", "_row"'
    )
    return sql, values


def _lateral_pages(
    model: type[M], parent_column: str, parent_ids: Sequence[int], order: Order, window: Window
) -> tuple[str, list[Any]]:
    """PostgreSQL: for each parent, its first rows through the index on (parent, order).

    Numbering every row of every parent reads all of them (a category's thousands of
    products for a page of five); a lateral subquery with LIMIT stops at the page's end.
    """
    columns = all_columns(model)
    selected = column_list(columns)
    values: list[Any] = [list(parent_ids)]
    conditions = [
        f'"{parent_column}" = "_parent"."key"',
        *_keyset_conditions(order, window, lambda number: f"${number}", values),
    ]
    values.append(window.limit + 1)
    ordering = _ordering(order, window)
    outer = ", ".join(f'"_page"."{column}"' for column in columns)
    sql = (
        f'SELECT {outer} FROM unnest($1::bigint[]) WITH ORDINALITY AS "_parent"("key", "_at") '  # noqa: S608
        f"CROSS JOIN LATERAL (SELECT {selected}, ROW_NUMBER() OVER (ORDER BY {ordering}) "
        f'AS "_row" FROM "{model._meta.db_table}" WHERE {" AND ".join(conditions)} '
        f'ORDER BY {ordering} LIMIT ${len(values)}) AS "_page" '
        f'ORDER BY "_parent"."_at", "_page"."_row"'
    )
    return sql, values


async def load_windows(
    model: type[M], parent_column: str, order: Order, keys: Sequence[tuple[int, Window]]
) -> list[Slice]:
    """DataLoader batch body for per-parent pages: one statement per distinct window.

    Every parent in one GraphQL field shares the field's arguments, so a level of the
    query is one statement.
    """
    parents_by_window: dict[Window, list[int]] = {}
    for parent, window in keys:
        parents_by_window.setdefault(window, []).append(parent)
    found: dict[tuple[int, Window], Slice] = {}
    for window, parents in parents_by_window.items():
        slices = await fetch_windows(model, parent_column, parents, order, window)
        found.update(((parent, window), page) for parent, page in slices.items())
    return [found[key] for key in keys]

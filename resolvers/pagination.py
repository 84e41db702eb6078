"""Relay pagination rules: argument checks, opaque cursors, pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from pypika_tortoise.terms import Bracket, Field, Parameterizer, Term, Tuple, ValueWrapper
from tortoise.models import Model
from tortoise.queryset import QuerySet, ValuesListQuery

from loaders.pagination import Order, Slice, Window, slice_rows
from loaders.select import all_columns, row_class, rows
from resolvers.errors import BadUserInput

T = TypeVar("T")
M = TypeVar("M", bound=Model)
Keyset = tuple[Any, ...]


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None
    # Whether the page's totalCount is wanted (a statement). Not part of the page's
    # identity: the same page, counted or not, is stored under one key.
    total: bool = field(default=True, compare=False)


@dataclass
class Page(Generic[T]):
    """One page of a list, in list order; each item's cursor is made when asked for.

    `total_exact` is False when counting stopped at the count limit: there are at least
    `total_count` items. `keysets` holds the positions of items ordered by a computed
    value (relevance), which the items themselves do not carry.
    """

    items: list[T]
    order: ListOrder
    has_next: bool
    has_previous: bool
    total_count: int
    total_exact: bool = True
    counted: bool = True
    keysets: list[Keyset] | None = None

    def cursor(self, index: int) -> str:
        if self.keysets is not None:
            return encode_cursor(self.order.kind, self.keysets[index])
        return self.order.cursor(self.items[index])


def encode_cursor(kind: str, keyset: Keyset) -> str:
    values = [value.isoformat() if isinstance(value, datetime) else value for value in keyset]
    return base64.urlsafe_b64encode(orjson.dumps([kind, *values])).decode()


def decode_cursor(cursor: str, kind: str, types: Sequence[type]) -> Keyset:
    """The keyset inside a cursor made by `encode_cursor(kind, ...)`, or BAD_USER_INPUT."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise BadUserInput(f"Invalid cursor: {cursor[:64]!r}") from None
    if not isinstance(decoded, list) or len(decoded) != len(types) + 1 or decoded[0] != kind:
        raise BadUserInput("Invalid cursor: it belongs to another list or ordering")
    values: list[Any] = []
    for value, type_ in zip(decoded[1:], types, strict=True):
        values.append(_typed(value, type_))
    return tuple(values)


def _typed(value: Any, type_: type) -> Any:
    if type_ is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    elif type_ is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, type_) and not isinstance(value, bool):
        return value
    raise BadUserInput("Invalid cursor: malformed position")


@dataclass(frozen=True)
class Limits:
    default_size: int
    max_size: int
    # A list's totalCount counts at most this many items, then says "at least".
    count_limit: int


@dataclass(frozen=True, kw_only=True)
class ListOrder(Order):
    """How one list is ordered: the loaders' `Order` (columns, the last one unique, and
    direction), with its cursors' kind and the types their values have.

    The kind is written into each cursor so that a cursor from another list or ordering
    is refused instead of silently skipping to a wrong place.
    """

    kind: str
    types: tuple[type, ...]

    def cursor(self, row: Any) -> str:
        return encode_cursor(self.kind, tuple(getattr(row, column) for column in self.columns))

    def window(self, args: PageArgs, limits: Limits) -> Window:
        """Check Relay arguments and turn them into the window a loader fetches."""
        if args.first is not None and args.last is not None:
            raise BadUserInput("Pass either `first` or `last`, not both")
        for name, size in (("first", args.first), ("last", args.last)):
            if size is not None and not 0 <= size <= limits.max_size:
                raise BadUserInput(f"`{name}` must be between 0 and {limits.max_size}, got {size}")
        after = self._decode(args.after) if args.after is not None else None
        before = self._decode(args.before) if args.before is not None else None
        if args.last is not None:
            return Window(limit=args.last, backward=True, after=after, before=before)
        limit = args.first if args.first is not None else limits.default_size
        return Window(limit=limit, after=after, before=before)

    def _decode(self, cursor: str) -> Keyset:
        return decode_cursor(cursor, self.kind, self.types)

    def page(
        self, found: Slice, total_count: int, total_exact: bool = True, *, counted: bool = True
    ) -> Page[Any]:
        return Page(
            items=found.rows,
            order=self,
            has_next=found.has_next,
            has_previous=found.has_previous,
            total_count=total_count,
            total_exact=total_exact,
            counted=counted,
        )


async def keyset_page(
    matching: QuerySet[M],
    order: ListOrder,
    args: PageArgs,
    limits: Limits,
    *,
    with_total: bool,
    computed: Mapping[str, Term] | None = None,
) -> Page[Any]:
    """A page of a query's rows in `order`, and their count if asked: one statement.

    `computed` names the order's columns that are expressions (relevance), not columns
    of the model.
    """
    window = order.window(args, limits)
    query = matching.annotate(**computed) if computed else matching
    for keyset, later in ((window.after, True), (window.before, False)):
        if keyset is not None:
            beyond = _beyond(
                order.columns, keyset, greater=later != order.descending, computed=computed
            )
            query = query.annotate(keyset_beyond=beyond).filter(keyset_beyond=True)
    backward = order.descending != window.backward
    model = matching.model
    fields = row_class(model)._fields
    selected = (*fields, *(column for column in order.columns if column not in fields))
    page = (
        query.order_by(*(f"{'-' if backward else ''}{column}" for column in order.columns))
        .limit(window.limit + 1)
        .values_list(*selected)
    )
    counted = matching.limit(limits.count_limit + 1).values_list("id") if with_total else None
    positions = [selected.index(column) for column in order.columns]
    records, count = await _page_and_count(page, counted, positions, backward)
    width = len(fields)
    # Rows, not models: see loaders.select (and `benchmarks.rows`).
    found = rows(model, all_columns(model), (record[:width] for record in records))
    keysets = [tuple(record[position] for position in positions) for record in records]
    kept = slice_rows(list(zip(found, keysets, strict=True)), window)
    page_of = order.page(
        Slice([item for item, _ in kept.rows], kept.has_next, kept.has_previous),
        min(count, limits.count_limit),
        count <= limits.count_limit,
        counted=with_total,
    )
    if len(selected) > width:  # ordered by a computed value the rows do not carry
        page_of.keysets = [keyset for _, keyset in kept.rows]
    return page_of


async def _page_and_count(
    page: ValuesListQuery[Any],
    counted: ValuesListQuery[Any] | None,
    ordering: list[int],
    descending: bool,
) -> tuple[list[tuple[Any, ...]], int]:
    """The page's records and, with `counted`, how many rows that counts (else 0).

    Tortoise builds both queries; they go as one statement, the page joined to the
    count, which saves a round trip, and the callers convert the values themselves
    (cheaper than Tortoise's `values_list`).
    """
    parameters = Parameterizer()
    # The count's values are numbered first, as its subquery comes first.
    count_sql = None if counted is None else _sql(counted, parameters)
    page_sql = _sql(page, parameters)
    if count_sql is None:
        _, records = await page._db.execute_query(page_sql, parameters.values)
        return [tuple(record) for record in records], 0
    direction = "DESC" if descending else "ASC"
    order_by = ", ".join(f'"_page"."{position}" {direction}' for position in ordering)
    # Built by Tortoise from the models and the validated arguments; values are bound.
    sql = (
        f'SELECT "_page".*, "_count"."total" FROM '  # noqa: S608
        f'(SELECT COUNT(*) AS "total" FROM ({count_sql}) AS "_counted") AS "_count" '
        f'LEFT JOIN ({page_sql}) AS "_page" ON 1 = 1 '
        f"ORDER BY {order_by}"
    )
    _, records = await page._db.execute_query(sql, parameters.values)
    found = [tuple(record) for record in records]
    count = int(found[0][-1])
    # With no row in the page, the join still gives the count's row, with NULL values.
    return [values[:-1] for values in found if values[0] is not None], count


def _sql(query: ValuesListQuery[Any], parameters: Parameterizer) -> str:
    """The statement Tortoise would send for `query`, its values added to `parameters`."""
    query._choose_db_if_not_chosen()
    query._make_query()
    context = query.query.QUERY_CLS.SQL_CONTEXT.copy(parameterizer=parameters)
    return query.query.get_sql(context)


def _beyond(
    columns: tuple[str, ...],
    keyset: Keyset,
    *,
    greater: bool,
    computed: Mapping[str, Term] | None = None,
) -> Term:
    """Rows after (or before) `keyset` in the lexicographic order of `columns`.

    A row comparison, `(name, id) > ($1, $2)`: an index on the columns serves it, where
    the same condition spelled with OR made PostgreSQL read the list from its start
    (`benchmarks.scale` reads a page from the middle of a large catalog).
    """
    terms = computed or {}
    left = Tuple(*(terms.get(column) or Field(column) for column in columns))
    right = Tuple(*(ValueWrapper(value) for value in keyset))
    return Bracket(left > right if greater else left < right)

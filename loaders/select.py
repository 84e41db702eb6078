"""Read-only rows for the loaders, selected through Tortoise's connection without models.

The loaders feed GraphQL objects, which copy a few attributes of each row and drop it.
Building a Tortoise query and a model per row cost more than everything else the
listing page did with a row; `python -m benchmarks.rows` compares Tortoise models,
`.values()` and this module. Rows are named tuples with the model's
attribute names, and each value is converted by the model's own field as Tortoise
does, so they read like models on SQLite and PostgreSQL alike. Writes and business
rules keep using models.

Identifiers in the SQL come from the models' metadata, never from a request; every
value is a bound parameter.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.fields import DatetimeField, Field
from tortoise.models import Model
from tortoise.timezone import get_timezone, get_use_tz

# A row class and, for the columns the driver does not return as Python wants them,
# (position, converter) pairs.
Shape = tuple[type, list[tuple[int, Callable[[Any], Any]]]]
_SHAPES: dict[tuple[type[Model], tuple[str, ...], str], Shape] = {}


def all_columns(model: type[Model]) -> tuple[str, ...]:
    """Every column of `model`'s table, in the model's order."""
    return tuple(model._meta.fields_db_projection_reverse)


def _shape(model: type[Model], columns: tuple[str, ...]) -> Shape:
    meta = model._meta
    # What the driver returns natively differs by dialect (a process may use both).
    key = (model, columns, meta.db.capabilities.dialect)
    found = _SHAPES.get(key)
    if found is None:
        # The three kinds of field Tortoise's own `_init_from_db` tells apart, which
        # Tortoise sorts out for the current connection's dialect.
        converters: dict[str, Callable[[Any], Any]] = {
            **{key: field.field_type for key, _, field in meta.db_default_fields},
            **{key: _converter(field) for key, _, field in meta.db_complex_fields},
        }
        names = [meta.fields_db_projection_reverse[column] for column in columns]
        row = namedtuple(f"{model.__name__}Row", names)  # type: ignore[misc]
        conversions = [
            (index, converters[column])
            for index, column in enumerate(columns)
            if column in converters
        ]
        found = _SHAPES[key] = (row, conversions)
    return found


def _converter(field: Field[Any]) -> Callable[[Any], Any]:
    """`field.to_python_value`, with a shortcut for what needs no conversion.

    asyncpg returns `timestamptz` values as aware datetimes in UTC, which Tortoise
    converts to the same instant in its UTC zone: a few hundred calls per listing page
    that change nothing a client sees.
    """
    convert = field.to_python_value
    if not isinstance(field, DatetimeField) or not get_use_tz() or get_timezone() != "UTC":
        return convert

    def to_python(value: Any) -> Any:
        return value if getattr(value, "tzinfo", None) is UTC else convert(value)

    return to_python


def row_class(model: type[Model]) -> Any:
    """The named tuple class of whole rows of `model` (fields named as on the model)."""
    return _shape(model, all_columns(model))[0]


def rows(model: type[Model], columns: tuple[str, ...], records: Iterable[Any]) -> list[Any]:
    """Rows of `model` from driver records that hold exactly `columns`, in that order."""
    row, conversions = _shape(model, columns)
    make = row._make  # type: ignore[attr-defined]
    if not conversions:
        return [make(record) for record in records]
    found = []
    for record in records:
        values = list(record)
        for index, convert in conversions:
            if values[index] is not None:
                values[index] = convert(values[index])
        found.append(make(values))
    return found


def placeholders(connection: BaseDBAsyncClient) -> Callable[[int], str]:
    """The bound-parameter mark of the connection's dialect, by 1-based position."""
    if connection.capabilities.dialect == "postgres":
        return lambda index: f"${index}"
    return lambda index: "?"


def column_list(columns: Sequence[str]) -> str:
    return ", ".join(f'"{column}"' for column in columns)


async def select_in(
    model: type[Model],
    column: str,
    keys: Sequence[Any],
    *,
    columns: tuple[str, ...] | None = None,
    order_by: Sequence[str] = (),
) -> list[Any]:
    """`columns` (all by default) of the rows of `model` whose `column` is one of `keys`."""
    selected = columns or all_columns(model)
    connection = get_connection(model._meta.default_connection or "default")
    mark = placeholders(connection)
    marks = ", ".join(mark(index + 1) for index in range(len(keys)))
    sql = (
        f'SELECT {column_list(selected)} FROM "{model._meta.db_table}" '  # noqa: S608
        f'WHERE "{column}" IN ({marks})'
    )
    if order_by:
        sql += f" ORDER BY {column_list(order_by)}"
    _, records = await connection.execute_query(sql, list(keys))
    return rows(model, selected, records)

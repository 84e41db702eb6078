"""How operations execute: graphql-core's engine, tuned for this service's shape.

Two changes, each measured with `benchmarks/run.py`:

- Prefetched data completes without graphql-core's per-field machinery. By the time
  graphql-core walks below a root field, `schema.prefetch` has put every relation and
  every page on the objects, so most fields only read an attribute. For each selection
  set, once per request, `execute_fields` sorts the fields into steps: a plain leaf
  attribute or a leaf computed by a method that takes only `self` (read or call it,
  and coerce the value), a plain object or list-of-objects attribute, or the value a
  relation (`schema.relations`) stored, object, list or page (complete it right here,
  recursively), and anything else (hand it to graphql-core as usual). A step skips the
  resolve-info object, Strawberry's resolver wrapper, argument conversion and completion
  dispatch, which took much of the CPU time of a listing page (hundreds of fields). Any
  value a step does not accept (null in a non-null field, a value the scalar refuses, an
  object of another type, a relation that was not prefetched) takes graphql-core's own
  path, so errors are reported exactly as before; errors inside completed objects are
  located and propagated the way graphql-core does it.
- No garbage for the cyclic collector. graphql-core 3.3 keeps a reference cycle on every
  execution context (its resolve-info helpers are bound methods of the context), and the
  context holds ours: DataLoaders, their futures, every row they loaded, the collected
  field plans. All of that would wait for Python's cyclic collector, which then runs
  often and long under load. The cycle is cut when the response is built, and
  `ReleaseRequestData` drops the loaders when the operation ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    Undefined,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, gather_with_cancel
from strawberry.extensions import SchemaExtension
from strawberry.resolvers import is_default_resolver
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema.relations import PagedRelation, Relation, declaration
from telemetry import tracing

_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
_MISSING: Any = object()

# Step kinds; the two leaf kinds first, so that `kind <= _METHOD` tells leaves.
_LEAF, _METHOD, _TYPENAME, _OBJECT, _LIST, _PAGE, _GENERIC = range(7)
# Completed values; anything else may be an awaitable.
_DONE = (dict, list)


@dataclass(frozen=True, slots=True)
class _Shape:
    """How one field of one type completes, whatever the query."""

    kind: int
    field: GraphQLField | None = None
    attribute: str = ""
    # A leaf computed by a plain method of the object (no arguments, not async).
    method: Callable[[Any], Any] | None = None
    nullable: bool = True
    coerce: Callable[[Any], Any] | None = None
    # The Python type a leaf's scalar returns unchanged, so coercion can be skipped.
    exact: type | None = None
    # The object type of an object, list item or page, and the classes its values have.
    object_type: GraphQLObjectType | None = None
    classes: tuple[type, ...] = ()
    item_type: GraphQLOutputType | None = None
    items_nullable: bool = True
    # The relation whose stored value the field completes, if it is one.
    relation: Relation | PagedRelation | None = None


_GENERIC_SHAPE = _Shape(_GENERIC)
# Scalars whose output coercion returns a value of this type as it is.
_EXACT: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}
_INT_RANGE = range(-(2**31), 2**31)


def _int(value: Any) -> Any:
    """Int's output coercion, with the common case (an int in range) first."""
    if value.__class__ is int and value in _INT_RANGE:
        return value
    return GraphQLInt.coerce_output_value(value)


# Output coercions quicker than the scalar's own for the values this service produces.
_COERCE: dict[GraphQLLeafType, Callable[[Any], Any]] = {GraphQLInt: _int}
_SHAPES: dict[tuple[GraphQLObjectType, str], _Shape] = {}


def _shape(parent_type: GraphQLObjectType, name: str, field: GraphQLField | None) -> _Shape:
    if name == "__typename":
        return _Shape(_TYPENAME)
    definition = None if field is None else (field.extensions or {}).get(_BACKREF)
    if field is None or definition is None:
        return _GENERIC_SHAPE
    nullable = not is_non_null_type(field.type)
    base = get_nullable_type(field.type)
    common = {
        "field": field,
        "attribute": definition.python_name,
        "nullable": nullable,
    }
    relation = declaration(definition)
    if isinstance(relation, PagedRelation):
        if is_object_type(base):
            return _Shape(
                _PAGE, object_type=base, classes=_classes(base), relation=relation, **common
            )
        return _GENERIC_SHAPE
    if field.args:
        return _GENERIC_SHAPE
    if relation is None:
        if _plain_method(definition) and is_leaf_type(base):
            method = definition.base_resolver.wrapped_func
            return _Shape(_METHOD, method=method, **_leaf(base), **common)
        resolve = field.resolve
        if not (definition.is_basic_field and resolve and is_default_resolver(resolve)):
            return _GENERIC_SHAPE
        if is_leaf_type(base):
            return _Shape(_LEAF, **_leaf(base), **common)
    if is_object_type(base):
        return _Shape(
            _OBJECT, object_type=base, classes=_classes(base), relation=relation, **common
        )
    if is_list_type(base):
        item_type = base.of_type
        item = get_nullable_type(item_type)
        if is_object_type(item):
            return _Shape(
                _LIST,
                object_type=item,
                classes=_classes(item),
                item_type=item_type,
                items_nullable=not is_non_null_type(item_type),
                relation=relation,
                **common,
            )
    return _GENERIC_SHAPE


def _leaf(leaf_type: GraphQLLeafType) -> dict[str, Any]:
    return {
        "coerce": _COERCE.get(leaf_type, leaf_type.coerce_output_value),
        "exact": _EXACT.get(leaf_type),
    }


def _plain_method(definition: Any) -> bool:
    """Whether a Strawberry field is a synchronous method of its object taking only self."""
    resolver = definition.base_resolver
    return (
        resolver is not None
        and not definition.extensions
        and not resolver.is_async
        and not resolver.arguments
        and resolver.self_parameter is not None
        and resolver.info_parameter is None
        and resolver.root_parameter is None
        and resolver.parent_parameter is None
    )


def _classes(object_type: GraphQLObjectType) -> tuple[type, ...]:
    """The Python classes of values of `object_type` (what Strawberry's is_type_of accepts)."""
    definition = (object_type.extensions or {}).get(_BACKREF)
    if definition is None:
        return ()
    classes = [definition.origin, *(interface.origin for interface in definition.interfaces)]
    if definition.concrete_of is not None:
        classes.append(definition.concrete_of.origin)
    return tuple(classes)


@dataclass(slots=True)
class _Step:
    """One response key of one selection set in this request."""

    name: str
    details: FieldDetailsList
    shape: _Shape
    kind: int
    # The planned selection below an object, list item or page; the key a relation's
    # value is stored under.
    sub: list[_Planned] | None = None
    key: Any = None


# (response key, kind, attribute, exact type, step)
_Planned = tuple[str, int, str, type | None, _Step]


class StorefrontExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._plain = manager is None or not manager.middlewares
        self._steps: dict[int, tuple[GroupedFieldSet, list[_Planned]]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        if position_context is not None or not self._plain:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        return self._execute(
            parent_type, source_value, path, self._plan(parent_type, grouped_field_set)
        )

    def execute_fields_serially(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        # Mutations only; with tracing on, each mutation field gets its own span.
        if tracing.active():
            self.execute_field = self._execute_field_traced  # type: ignore[method-assign,assignment]
        return super().execute_fields_serially(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def _execute_field_traced(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        details: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        execute = StrawberryGraphQLCoreExecutionContext.execute_field
        if path.prev is not None:
            return execute(self, parent_type, source, details, path, position_context)

        async def traced() -> Any:
            name = details[0].node.name.value
            with tracing.span(f"mutation.{name}", {"graphql.field.name": name}):
                result = execute(self, parent_type, source, details, path, position_context)
                return await result if self.is_awaitable(result) else result

        return traced()

    def _execute(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        planned: list[_Planned],
    ) -> Any:
        """`execute_fields` for a planned selection set."""
        results: dict[str, Any] = {}
        awaiting: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for name, kind, attribute, exact, step in planned:
                if kind <= _METHOD:
                    value = (
                        getattr(source_value, attribute, _MISSING)
                        if kind == _LEAF
                        else _called(step.shape, source_value)
                    )
                    if value.__class__ is not exact:
                        value = _leaf_value(step.shape, value)
                    if value is not _MISSING:
                        results[name] = value
                        continue
                elif kind == _TYPENAME:
                    results[name] = parent_type.name
                    continue
                elif kind != _GENERIC:
                    shape = step.shape
                    value = (
                        getattr(source_value, attribute, _MISSING)
                        if shape.relation is None
                        else source_value.prefetched.get(step.key, _MISSING)
                    )
                    if value is None and shape.nullable:
                        results[name] = None
                        continue
                    if _completes(shape, kind, value):
                        result = self._complete(step, value, Path(path, name, parent_type.name))
                        results[name] = result
                        if result.__class__ not in _DONE and is_awaitable(result):
                            awaiting.append(name)
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    step.details,
                    Path(path, name, parent_type.name),
                    None,
                )
                if result is not Undefined:
                    results[name] = result
                    if is_awaitable(result):
                        awaiting.append(name)
        except Exception:
            if awaiting:
                self.settle_in_background([results[name] for name in awaiting])
            raise
        if not awaiting:
            return results
        return _awaited_fields(results, awaiting)

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[_Planned]:
        """The steps of one selection set, made once per request (as graphql-core collects
        sub-fields once per request), with what the loop reads first unpacked."""
        cached = self._steps.get(id(fields))
        if cached is not None:
            return cached[1]
        steps = [self._step(parent_type, name, details) for name, details in fields.items()]
        planned = [
            (step.name, step.kind, step.shape.attribute, step.shape.exact, step) for step in steps
        ]
        self._steps[id(fields)] = (fields, planned)
        return planned

    def _step(self, parent_type: GraphQLObjectType, name: str, details: FieldDetailsList) -> _Step:
        """How one response key completes here; graphql-core's way for anything incremental
        (@defer, @stream) or a page whose arguments do not resolve."""
        node = details[0].node
        field_name = node.name.value
        shape_key = (parent_type, field_name)
        shape = _SHAPES.get(shape_key)
        if shape is None:
            shape = _SHAPES[shape_key] = _shape(
                parent_type, field_name, self.schema.get_field(parent_type, field_name)
            )
        step = _Step(name=name, details=details, shape=shape, kind=shape.kind, key=shape.relation)
        if shape.object_type is None:
            return step
        if any(
            directive.name.value == "stream"
            for detail in details
            for directive in (detail.node.directives or ())
        ):
            step.kind = _GENERIC
            return step
        collected = self.collect_subfields(shape.object_type, details)
        if collected.new_defer_usages:
            step.kind = _GENERIC
            return step
        step.sub = self._plan(shape.object_type, collected.grouped_field_set)
        if isinstance(shape.relation, PagedRelation):
            step.key = self._page_key(shape.relation, shape.field, details)
            if step.key is None:
                step.kind = _GENERIC
        return step

    def _page_key(self, relation: PagedRelation, field: Any, details: FieldDetailsList) -> Any:
        try:
            arguments = get_argument_values(
                field,
                details[0].node,
                self.variable_values,
                details[0].fragment_variable_values,
                self.hide_suggestions,
            )
        except Exception:
            return None  # the generic path reports it
        return relation.page_key(arguments)

    def _complete(self, step: _Step, value: Any, path: Path) -> Any:
        """A planned object, list of objects or page: its completed value or an awaitable."""
        shape = step.shape
        field_type = shape.field.type  # type: ignore[union-attr]  # planned steps have one
        try:
            completed = (
                self._complete_list(step, value, path)
                if step.kind == _LIST
                else self._execute(shape.object_type, value, path, step.sub)  # type: ignore[arg-type]
            )
        except Exception as error:
            self.handle_field_error(error, field_type, step.details, path)
            return None
        if completed.__class__ not in _DONE and self.is_awaitable(completed):
            return self._located(completed, field_type, step.details, path)
        return completed

    def _complete_list(self, step: _Step, items: list[Any], path: Path) -> Any:
        shape = step.shape
        object_type = shape.object_type
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        awaiting: list[int] = []
        for index, item in enumerate(items):
            if item is None:
                completed.append(None)
                continue
            item_path = Path(path, index, None)
            try:
                result = self._execute(object_type, item, item_path, step.sub)  # type: ignore[arg-type]
            except Exception as error:
                self.handle_field_error(error, shape.item_type, step.details, item_path)  # type: ignore[arg-type]
                result = None
            if result.__class__ is not dict and is_awaitable(result):
                result = self._located(result, shape.item_type, step.details, item_path)  # type: ignore[arg-type]
                awaiting.append(index)
            completed.append(result)
        if not awaiting:
            return completed
        return _awaited_items(completed, awaiting)

    async def _located(
        self,
        completing: Awaitable[Any],
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completing
        except Exception as error:
            self.handle_field_error(error, return_type, details, path)
            return None

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        del self.async_helpers
        return response


def _called(shape: _Shape, source: Any) -> Any:
    """What a plain method returns, or _MISSING where graphql-core's path must report it."""
    try:
        return shape.method(source)  # type: ignore[misc]
    except Exception:
        return _MISSING


def _leaf_value(shape: _Shape, value: Any) -> Any:
    """A leaf's output value, or _MISSING where graphql-core's own path must report it."""
    if value is None:
        return None if shape.nullable else _MISSING
    if value is _MISSING:
        return _MISSING
    try:
        coerced = shape.coerce(value)  # type: ignore[misc]
    except Exception:
        return _MISSING
    return _MISSING if coerced is None or coerced is Undefined else coerced


def _completes(shape: _Shape, kind: int, value: Any) -> bool:
    """Whether a planned step can complete `value` itself (else graphql-core does)."""
    classes = shape.classes
    if kind != _LIST:
        return isinstance(value, classes)
    if not isinstance(value, list):
        return False
    nullable = shape.items_nullable
    return all(isinstance(item, classes) or (item is None and nullable) for item in value)


async def _awaited_fields(results: dict[str, Any], awaiting: list[str]) -> dict[str, Any]:
    if len(awaiting) == 1:
        results[awaiting[0]] = await results[awaiting[0]]
    else:
        values = await gather_with_cancel(*(results[name] for name in awaiting))
        results.update(zip(awaiting, values, strict=True))
    return results


async def _awaited_items(completed: list[Any], awaiting: list[int]) -> list[Any]:
    values = await gather_with_cancel(*(completed[index] for index in awaiting))
    for index, value in zip(awaiting, values, strict=True):
        completed[index] = value
    return completed


class ReleaseRequestData(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        loaders = getattr(self.execution_context.context, "loaders", None)
        if loaders is not None:
            loaders.clear()

"""Limits on what one GraphQL document may ask for, enforced before it is validated or run.

A document is parsed with a cap on its tokens, then measured: its field selections, its
depth and its cost. Too much of any of them is refused with `QUERY_TOO_COMPLEX` before
validation, which graphql-core cannot do cheaply for hostile documents
(OverlappingFieldsCanBeMergedRule takes seconds on a few hundred same-named fields).

Cost is the number of objects a query may produce. A field with a selection set costs one
per object it returns, times the cost of its selections; a field that takes `first` or
`last` returns that many (the default page size when it is given neither); a list field
that takes a list argument (`nodes(ids:)`, `_entities(representations:)`) returns one per
item. So lists multiply down the tree, and leaves are free: they come with their object.
Each fragment is measured once, so the measurement is linear in the document's size.
Introspection is left to graphql-core's MaxIntrospectionDepthRule.

`QueryLimits` also caches parsing and validation, in place of Strawberry's `ParserCache`
and `ValidationCache`: `ParserCache` lets a parse error escape the operation, so the
error reaches the client without `extensions.code`, and `ValidationCache` validates before
anything can refuse the document.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Protocol

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from telemetry.request import note_cost

MAX_TOKENS = 3000
MAX_FIELDS = 400
# Selection sets and fragment spreads nested deeper than this are not measured further.
MAX_NESTING = 100
CACHE_SIZE = 256
# Integers longer than this are not converted (Python refuses beyond 4,300 digits).
_LONGEST_INT = 18
_HUGE = 10**_LONGEST_INT
_PAGE_ARGUMENTS = ("first", "last")


class LimitSettings(Protocol):
    max_query_depth: int
    max_query_cost: int
    default_page_size: int


class LimitContext(Protocol):
    @property
    def settings(self) -> LimitSettings: ...


@dataclass(frozen=True)
class Measure:
    """`fields`: field selections with every fragment spread counted as its fields (what a
    naive walk of the query visits); `depth`: levels of nested fields; `cost`: see above."""

    fields: int
    depth: int
    cost: int


def too_complex(message: str, **details: int) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **details})


@lru_cache(maxsize=CACHE_SIZE)
def parse_document(query: str) -> DocumentNode:
    return parse(query, max_tokens=MAX_TOKENS)


_validate = lru_cache(maxsize=CACHE_SIZE)(validate_document)


def _is_token_limit(error: GraphQLError) -> bool:
    return f"more than {MAX_TOKENS} tokens" in error.message


class QueryLimits(SchemaExtension):
    """Parses (cached, token cap), measures (cached) and validates (cached) each document."""

    def __init__(self) -> None:
        self._too_many_tokens = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Strawberry parses again when `on_parse` leaves no document; the cap holds there too.
        context.parse_options["max_tokens"] = MAX_TOKENS
        yield
        result = context.result
        if self._too_many_tokens and result is not None and getattr(result, "errors", None):
            result.errors = [
                too_complex(
                    f"The document has more than {MAX_TOKENS} tokens", maximumTokens=MAX_TOKENS
                )
            ]

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = parse_document(context.query)
            except GraphQLError as error:
                # Left to Strawberry's own parse, which reports the error inside the
                # operation, where the other extensions (error codes) see it.
                self._too_many_tokens = _is_token_limit(error)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            refusal = _refusal(
                context.schema._schema,
                document,
                context.operation_name,
                context.variables or {},
                context.context.settings,
            )
            context.pre_execution_errors = (
                [refusal]
                if refusal
                else _validate(context.schema._schema, document, context.validation_rules)
            )
        yield


def _refusal(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    settings: LimitSettings,
) -> GraphQLError | None:
    """The QUERY_TOO_COMPLEX error for the operation, or None when it is within limits."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    sizes = _variable_sizes(operation, variables)
    measure = measure_operation(schema, document, operation_name, sizes, settings.default_page_size)
    note_cost(measure.cost)
    if measure.fields > MAX_FIELDS:
        return too_complex(
            f"The document selects {measure.fields} fields, counting each fragment spread "
            f"as the fields of its fragment; the maximum is {MAX_FIELDS}",
            fields=measure.fields,
            maximumFields=MAX_FIELDS,
        )
    maximum_depth = min(settings.max_query_depth, MAX_NESTING)
    if measure.depth > maximum_depth:
        return too_complex(
            f"The query is nested {measure.depth} levels deep; the maximum is {maximum_depth}",
            depth=measure.depth,
            maximumDepth=maximum_depth,
        )
    if measure.cost > settings.max_query_cost:
        return too_complex(
            f"The query may produce {measure.cost} objects; the maximum cost is "
            f"{settings.max_query_cost}. Ask for smaller pages (first/last) or fewer "
            "nested lists.",
            cost=measure.cost,
            maximumCost=settings.max_query_cost,
        )
    return None


@lru_cache(maxsize=CACHE_SIZE)
def measure_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    sizes: tuple[tuple[str, int], ...],
    default_page_size: int,
) -> Measure:
    """Fields, depth and cost of one operation; `sizes` are its variables' list sizes."""
    operation = get_operation_ast(document, operation_name)
    assert operation is not None
    meter = _Meter(schema, document, dict(sizes), default_page_size)
    root = schema.get_root_type(operation.operation)
    try:
        measure = meter.selections(operation.selection_set, root, 0)
    except _TooDeep:
        measure = Measure(fields=0, depth=MAX_NESTING + 1, cost=0)
    # Fields written but not reached from the operation still cost validation time.
    fields = max(measure.fields, _count_fields(document))
    # Capped so that error extensions stay within JSON's (and orjson's) 64-bit integers.
    return replace(measure, fields=min(fields, _HUGE), cost=min(measure.cost, _HUGE))


class _TooDeep(Exception):
    pass


_LEAF = Measure(fields=1, depth=1, cost=0)
_NOTHING = Measure(fields=0, depth=0, cost=0)


class _Meter:
    """Measures selection sets; each fragment once, whatever the number of its spreads."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        sizes: dict[str, int],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.sizes = sizes
        self.default_page_size = default_page_size
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.measuring: set[str] = set()

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, nesting: int
    ) -> Measure:
        """A selection set resolved once on `parent`; fragments count as their fields."""
        if nesting > MAX_NESTING:
            raise _TooDeep
        fields = depth = cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                child = self.field(selection, parent, nesting)
            elif isinstance(selection, InlineFragmentNode):
                child = self.selections(
                    selection.selection_set,
                    self.named_type(selection.type_condition) or parent,
                    nesting + 1,
                )
            elif isinstance(selection, FragmentSpreadNode):
                child = self.fragment(selection.name.value, nesting)
            else:
                continue
            fields += child.fields
            depth = max(depth, child.depth)
            cost += child.cost
        return Measure(fields=fields, depth=depth, cost=cost)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, nesting: int) -> Measure:
        if node.selection_set is None:
            return _LEAF
        definition = _field_definition(parent, node.name.value)
        child_type = get_named_type(definition.type) if definition else None
        below = self.selections(node.selection_set, child_type, nesting + 1)
        if node.name.value.startswith("__"):
            # Introspection: in memory, and its depth is MaxIntrospectionDepthRule's.
            return Measure(fields=1 + below.fields, depth=0, cost=0)
        return Measure(
            fields=1 + below.fields,
            depth=1 + below.depth,
            cost=self.factor(node, definition) * (1 + below.cost),
        )

    def fragment(self, name: str, nesting: int) -> Measure:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.measuring:
            return _NOTHING  # an unknown fragment or a cycle: validation refuses the document
        self.measuring.add(name)
        measured = self.selections(
            definition.selection_set, self.named_type(definition.type_condition), nesting + 1
        )
        self.measuring.discard(name)
        self.measured[name] = measured
        return measured

    def factor(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many objects the field may return."""
        if definition is None:
            return 1
        if any(name in definition.args for name in _PAGE_ARGUMENTS):
            pages = [
                self.size(argument.value)
                for argument in node.arguments or ()
                if argument.name.value in _PAGE_ARGUMENTS
            ]
            known = [size for size in pages if size is not None]
            return max(known) if known else self.default_page_size
        if is_list_type(get_nullable_type(definition.type)):
            lengths = [self.size(argument.value) for argument in node.arguments or ()]
            return max((length for length in lengths if length is not None), default=1)
        return 1

    def size(self, value: ValueNode) -> int | None:
        if isinstance(value, VariableNode):
            return self.sizes.get(value.name.value)
        return _literal_size(value)

    def named_type(self, node: NamedTypeNode | None) -> GraphQLNamedType | None:
        return self.schema.get_type(node.name.value) if node else None


def _field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    fields = getattr(parent, "fields", None)
    return fields.get(name) if isinstance(fields, dict) else None


def _literal_size(value: ValueNode | None) -> int | None:
    """An integer literal's value (never below 0) or a list literal's length."""
    if isinstance(value, IntValueNode):
        digits = value.value
        return _HUGE if len(digits) > _LONGEST_INT else max(int(digits), 0)
    if isinstance(value, ListValueNode):
        return len(value.values)
    return None


def _value_size(value: object) -> int | None:
    """A variable's integer value (never below 0) or its list's length."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return min(max(value, 0), _HUGE)
    if isinstance(value, list):
        return len(value)
    return None


def _variable_sizes(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> tuple[tuple[str, int], ...]:
    """The sizes the variables give to `first`/`last` and list arguments (the cache key)."""
    sizes = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        size = (
            _value_size(variables[name])
            if name in variables
            else _literal_size(definition.default_value)
        )
        if size is not None:
            sizes.append((name, size))
    return tuple(sizes)


def _count_fields(document: DocumentNode) -> int:
    """Field selections written in the document (fragments counted where defined)."""
    count = 0
    pending = [
        selection_set
        for definition in document.definitions
        if (selection_set := getattr(definition, "selection_set", None)) is not None
    ]
    while pending:
        for selection in pending.pop().selections:
            count += isinstance(selection, FieldNode)
            nested = getattr(selection, "selection_set", None)
            if nested is not None:
                pending.append(nested)
    return count


__all__ = ["MAX_FIELDS", "MAX_TOKENS", "QueryLimits", "measure_operation", "parse_document"]

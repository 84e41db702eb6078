"""Limits on what one GraphQL document may ask for, enforced before it is validated or run.

A document is parsed with a cap on its tokens, then measured: its field selections, its
depth and its cost. Too much of any of them is refused with `QUERY_TOO_COMPLEX` before
validation, which graphql-core cannot do cheaply for hostile documents
(OverlappingFieldsCanBeMergedRule takes seconds on a few hundred same-named fields).

Cost covers everything a field makes the database do: the objects it reads and the
statements it causes (the README's "Query cost" section gives the same rules with examples).

- An object costs 1; scalars and enums are free: they come with their object.
- A list field that takes a list argument (`nodes(ids:)`, `_entities(representations:)`)
  returns one object per item; another list field counts as one.
- A connection (a field taking `first`/`last`) costs 1, plus `PAGE_COST` for the statement
  that reads its page, plus `COUNT_COST` when `totalCount` is selected (a `COUNT` reads
  every matching row, however small the page), plus its page size (`first` or `last`, the
  default page size when it has neither) times the cost of one `edges` item (at least 1:
  the page's rows are read even when `edges` is not selected). `pageInfo` costs 1, like
  any object.
- A `filter` with `search` makes the page and the count cost `SEARCH_FACTOR` times as much
  (`LIKE '%term%'` over name, SKU and description reads every product instead of an index
  range); `filter.categoryId` adds `PAGE_COST` for the statement that reads the tree.
- A mutation field costs `MUTATION_COST` (a transaction of several statements) on top.
- A field inside a list costs that much per item of the list: nested connections, their
  statements and their counts multiply by the page sizes above them.

So `products(first: 0, filter: {search: "x"}) { totalCount }` costs
1 + (PAGE_COST + COUNT_COST) * SEARCH_FACTOR = 271, and a document can't ask for 150 of them.
Each fragment is measured once, as a `Measure` that keeps the cost of one `edges` item and
whether `totalCount` is selected apart, so the measurement is linear in the document's size.
Introspection is left to graphql-core's MaxIntrospectionDepthRule.

A mutation runs at most `max_mutations_per_request` root fields: each one a transaction
that may take stock, so a document cannot multiply them with aliases or fragments.

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
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
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
# The cost model's prices, in objects (see the module's docstring).
PAGE_COST = 2
COUNT_COST = 25
SEARCH_FACTOR = 10
MUTATION_COST = 10
# The fields of a connection type: one `edges` item per object of the page.
_ITEMS = "edges"
_COUNT = "totalCount"


class LimitSettings(Protocol):
    @property
    def max_query_depth(self) -> int: ...
    @property
    def max_query_cost(self) -> int: ...
    @property
    def default_page_size(self) -> int: ...
    @property
    def max_mutations_per_request(self) -> int: ...


@dataclass(frozen=True)
class Measure:
    """`fields`: field selections with every fragment spread counted as its fields (what a
    naive walk of the query visits); `depth`: levels of nested fields; `cost`: see above.

    Measured on a connection type, `item_cost` is the cost of one `edges` item (multiplied
    by the page size by the connection's field) and `counts` says whether `totalCount` is
    selected; `cost` is the rest.
    """

    fields: int
    depth: int
    cost: int
    item_cost: int = 0
    counts: bool = False


def too_complex(message: str, **details: int) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **details})


@lru_cache(maxsize=CACHE_SIZE)
def parse_document(query: str) -> DocumentNode:
    return parse(query, max_tokens=MAX_TOKENS)


class _Same:
    """A document as a cache key by identity.

    graphql-core hashes a document by walking every node of it, on each lookup; the
    parse cache hands out one document per query text, so identity finds the same entry
    at no cost. The key holds the document, so its id is not reused while cached.
    """

    __slots__ = ("document",)

    def __init__(self, document: DocumentNode) -> None:
        self.document = document

    def __hash__(self) -> int:
        return id(self.document)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.document is self.document


@lru_cache(maxsize=CACHE_SIZE)
def _validated(schema: GraphQLSchema, document: _Same, rules: Any) -> list[GraphQLError]:
    return validate_document(schema, document.document, rules)


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
                else _validated(context.schema._schema, _Same(document), context.validation_rules)
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
    if operation.operation is OperationType.MUTATION:
        mutations = _root_fields(document, operation)
        if mutations > settings.max_mutations_per_request:
            return too_complex(
                f"The document runs {mutations} mutations; at most "
                f"{settings.max_mutations_per_request} may run in one request",
                mutations=mutations,
                maximumMutations=settings.max_mutations_per_request,
            )
    facts = _variable_facts(operation, variables)
    measure = measure_operation(
        schema, _Same(document), operation_name, facts, settings.default_page_size
    )
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
            f"The query costs {measure.cost}; the maximum cost is "
            f"{settings.max_query_cost}. Ask for smaller pages (first/last), fewer "
            "nested lists, fewer counts (totalCount) or searches.",
            cost=measure.cost,
            maximumCost=settings.max_query_cost,
        )
    return None


def operation_cost(
    schema: GraphQLSchema,
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    settings: LimitSettings,
) -> int | None:
    """The cost of the operation a request names, or None when it will not run (it does
    not parse, names no operation, or is over a limit): what a cost budget is charged.

    Parsing and measuring are cached, so execution does neither again."""
    try:
        document = parse_document(query)
    except GraphQLError:
        return None
    if _refusal(schema, document, operation_name, variables or {}, settings) is not None:
        return None
    operation = get_operation_ast(document, operation_name)
    assert operation is not None  # _refusal found it
    facts = _variable_facts(operation, variables or {})
    return measure_operation(
        schema, _Same(document), operation_name, facts, settings.default_page_size
    ).cost


@lru_cache(maxsize=CACHE_SIZE)
def measure_operation(
    schema: GraphQLSchema,
    same: _Same,
    operation_name: str | None,
    facts: tuple[tuple[str, int | tuple[str, ...] | None], ...],
    default_page_size: int,
) -> Measure:
    """Fields, depth and cost of one operation; `facts` are what its variables tell the
    cost (see `_variable_facts`)."""
    document = same.document
    operation = get_operation_ast(document, operation_name)
    assert operation is not None
    meter = _Meter(schema, document, dict(facts), default_page_size)
    root = schema.get_root_type(operation.operation)
    try:
        measure = meter.selections(operation.selection_set, root, 0)
        if operation.operation is OperationType.MUTATION:
            mutations = sum(
                isinstance(selection, FieldNode) for selection in operation.selection_set.selections
            )
            measure = replace(measure, cost=measure.cost + MUTATION_COST * mutations)
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
        facts: dict[str, int | tuple[str, ...] | None],
        default_page_size: int,
    ) -> None:
        self.schema = schema
        self.facts = facts
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
        fields = depth = cost = item_cost = 0
        counts = False
        connection = _is_connection(parent)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                child = self.field(selection, parent, nesting)
                if connection and selection.name.value == _ITEMS:
                    child = replace(child, cost=0, item_cost=child.cost)
                counts = counts or (connection and selection.name.value == _COUNT)
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
            item_cost += child.item_cost
            counts = counts or child.counts
        return Measure(fields, depth, cost, item_cost, counts)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, nesting: int) -> Measure:
        if node.selection_set is None:
            return _LEAF
        definition = _field_definition(parent, node.name.value)
        child_type = get_named_type(definition.type) if definition else None
        below = self.selections(node.selection_set, child_type, nesting + 1)
        fields = 1 + below.fields
        if node.name.value.startswith("__"):
            # Introspection: in memory, and its depth is MaxIntrospectionDepthRule's.
            return Measure(fields=fields, depth=0, cost=0)
        if definition is not None and _is_connection(child_type):
            statements = PAGE_COST + (COUNT_COST if below.counts else 0)
            cost = (
                1
                + statements * self.search_factor(node)
                + self.filter_statements(node)
                + below.cost
                + self.page_size(node) * max(1, below.item_cost)
            )
        else:
            cost = self.list_length(node, definition) * (1 + below.cost + below.item_cost)
        return Measure(fields=fields, depth=1 + below.depth, cost=cost)

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

    def page_size(self, node: FieldNode) -> int:
        """The most objects a connection's page may hold."""
        pages = [
            self.size(argument.value)
            for argument in node.arguments or ()
            if argument.name.value in _PAGE_ARGUMENTS
        ]
        known = [size for size in pages if size is not None]
        return max(known) if known else self.default_page_size

    def list_length(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many objects a field that is not a connection may return."""
        if definition is None or not is_list_type(get_nullable_type(definition.type)):
            return 1
        lengths = [self.size(argument.value) for argument in node.arguments or ()]
        return max((length for length in lengths if length is not None), default=1)

    def search_factor(self, node: FieldNode) -> int:
        return SEARCH_FACTOR if "search" in self.filter_fields(node) else 1

    def filter_statements(self, node: FieldNode) -> int:
        return PAGE_COST if "categoryId" in self.filter_fields(node) else 0

    def filter_fields(self, node: FieldNode) -> tuple[str, ...]:
        """The fields the `filter` argument sets to something (a variable counts as set
        unless the request gives it no value)."""
        arguments = node.arguments or ()
        value = next((item.value for item in arguments if item.name.value == "filter"), None)
        if isinstance(value, VariableNode):
            given = self.facts.get(value.name.value)
            return given if isinstance(given, tuple) else ()
        if not isinstance(value, ObjectValueNode):
            return ()
        return tuple(
            field.name.value
            for field in value.fields
            if not _empty_literal(field.value)
            and not (
                isinstance(field.value, VariableNode)
                and self.facts.get(field.value.name.value, 1) is None
            )
        )

    def size(self, value: ValueNode) -> int | None:
        if isinstance(value, VariableNode):
            given = self.facts.get(value.name.value)
            return given if isinstance(given, int) else None
        return _literal_size(value)

    def named_type(self, node: NamedTypeNode | None) -> GraphQLNamedType | None:
        return self.schema.get_type(node.name.value) if node else None


def _is_connection(type_: GraphQLNamedType | None) -> bool:
    fields = getattr(type_, "fields", None)
    return isinstance(fields, dict) and _ITEMS in fields and "pageInfo" in fields


def _empty_literal(value: ValueNode) -> bool:
    """null or "": a filter field that filters nothing."""
    return isinstance(value, NullValueNode) or (
        isinstance(value, StringValueNode) and not value.value.strip()
    )


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


def _value_fact(value: object) -> int | tuple[str, ...] | None:
    """What a variable's value tells the cost: an integer (never below 0), a list's
    length, the fields an input object sets, or None for null and ""."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return min(max(value, 0), _HUGE)
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return tuple(sorted(name for name, item in value.items() if _value_fact(item) is not None))
    return 1


def _variable_facts(
    operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> tuple[tuple[str, int | tuple[str, ...] | None], ...]:
    """What each variable gives `first`/`last`, list arguments and filters (the cache key).

    A variable given no value and no default is null."""
    facts: list[tuple[str, int | tuple[str, ...] | None]] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in variables:
            facts.append((name, _value_fact(variables[name])))
        elif definition.default_value is not None:
            default = definition.default_value
            facts.append((name, None if _empty_literal(default) else _literal_size(default)))
        else:
            facts.append((name, None))
    return tuple(facts)


def _root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> int:
    """How many root fields the operation runs: distinct response keys (an alias or the
    name) through inline fragments and fragment spreads, each fragment visited once.
    Fields with one response key are merged into one execution."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    keys: set[str] = set()
    visited: set[str] = set()
    pending = [operation.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in visited:
                    visited.add(name)
                    pending.append(fragments[name].selection_set)
    return len(keys)


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


__all__ = [
    "MAX_FIELDS",
    "MAX_TOKENS",
    "QueryLimits",
    "measure_operation",
    "operation_cost",
    "parse_document",
]

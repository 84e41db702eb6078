"""How operations execute: graphql-core's engine, tuned for this service's shape.

Two changes, each measured with `benchmarks/run.py` (the 20-product listing resolves
about 640 fields, some 450 of them plain scalar attributes):

- A fast path for leaf fields that are plain attributes (no resolver, no arguments):
  read the attribute and coerce it, without building a resolve-info object, calling
  Strawberry's resolver wrapper and graphql-core's completion dispatch. Anything else,
  and any value the fast path does not accept (null in a non-null field, a value the
  scalar refuses), takes graphql-core's own path, so errors are reported as before.
- No garbage for the cyclic collector. graphql-core 3.3 keeps a reference cycle on every
  execution context (its resolve-info helpers are bound methods of the context), and the
  context holds ours: DataLoaders, their futures, every row they loaded, the collected
  field plans. All of that would wait for Python's cyclic collector, which then runs
  often and long under load. The cycle is cut when the response is built, and
  `ReleaseRequestData` drops the loaders when the operation ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    Undefined,
    get_nullable_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

# (attribute name, leaf type) of a field that may take the fast path, or None.
LeafPlan = tuple[str, GraphQLLeafType] | None
_LEAF_PLANS: dict[tuple[str, str], LeafPlan] = {}


def _leaf_plan(field: GraphQLField) -> LeafPlan:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    leaf = get_nullable_type(field.type)
    plain = getattr(field.resolve, "_is_default", False) and not field.args
    if definition is None or not plain or not is_leaf_type(leaf):
        return None
    return definition.python_name, leaf


class StorefrontExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        key = (parent_type.name, node.name.value)
        if key in _LEAF_PLANS:
            plan = _LEAF_PLANS[key]
        else:
            field = self.schema.get_field(parent_type, node.name.value)
            plan = _LEAF_PLANS[key] = None if field is None else _leaf_plan(field)
        if plan is not None and not node.arguments and not self._has_middleware():
            attribute, leaf = plan
            value = getattr(source, attribute, None)
            if value is not None:
                try:
                    coerced = leaf.coerce_output_value(value)
                except Exception:
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _has_middleware(self) -> bool:
        manager = self.middleware_manager
        return manager is not None and bool(manager.middlewares)

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        del self.async_helpers
        return response


class ReleaseRequestData(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        loaders = getattr(self.execution_context.context, "loaders", None)
        if loaders is not None:
            loaders.clear()

"""`INTROSPECTION=false`: no schema introspection and no "did you mean" hints.

A production API need not hand out its schema to strangers, nor spell out field and type
names in error messages (graphql-core suggests close names of fields, arguments, types
and enum values). With the setting off, `__schema` and `__type` are refused by
validation (graphql-core's `NoSchemaIntrospectionCustomRule`, added to the request's
rules, so the validation cache keeps the two cases apart) and suggestions are cut from
every error message. `__typename` still answers, and so does federation's
`_service { sdl }`: a router composing this subgraph needs it, and it is an ordinary field.

Strawberry passes graphql-core no `hide_suggestions` flag (for validation or for
variable coercion), so the hints are removed from the messages after the operation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

# graphql-core's `did_you_mean`: " Did you mean 'a', 'b', or 'c'?"
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


class IntrospectionSettings(Protocol):
    introspection: bool


def without_suggestions(error: GraphQLError) -> GraphQLError:
    error.message = _SUGGESTION.sub("", error.message)
    return error


class IntrospectionPolicy(SchemaExtension):
    """Applies the request's INTROSPECTION setting; must run before `QueryLimits`, which
    validates with the rules this leaves on the execution context."""

    def _allowed(self) -> bool:
        settings: IntrospectionSettings = self.execution_context.context.settings
        return settings.introspection

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not self._allowed():
            context.validation_rules = (*context.validation_rules, NoSchemaIntrospectionCustomRule)
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if errors and not self._allowed():
            for error in errors:
                without_suggestions(error)

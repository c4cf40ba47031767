"""The executor class of the hub's schema: the compiled path, or graphql-core's.

:class:`HubExecutionContext` is the ``execution_context_class`` strawberry hands to
graphql-core. Its ``execute_operation`` runs an operation from a cached plan (see
:mod:`schema.engine`) whenever it can, and otherwise the standard executor it
inherits. The standard executor runs:

- introspection (``__schema``, ``__type``; ``__typename`` is compiled);
- documents using ``@defer`` or ``@stream``, or fragment variables;
- executions with field middleware (an extension with a ``resolve`` hook), an abort
  signal, or error propagation turned off (``@experimental_disableErrorPropagation``).

Queries, mutations (root fields one after the other, as the spec says) and each event
of a subscription are compiled.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType, GraphQLSchema, OperationType
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.engine import PLAN_CACHE_SIZE, PlanCache, execute_plan, mark_attribute


def mark_fast_fields(gql: GraphQLSchema, attrs: dict[int, str]) -> int:
    """Declare the fields that resolve as a plain attribute read (``attrs``: id of the
    GraphQLField -> attribute name; see ``schema._plain_attribute_resolvers``);
    the compiled path reads them directly. Returns how many."""
    n = 0
    for gtype in gql.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for field in gtype.fields.values():
            attr = attrs.get(id(field))
            if attr is not None:
                mark_attribute(field, attr)
                n += 1
    PlanCache.of(gql, PLAN_CACHE_SIZE)
    return n


class HubExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor (strawberry's flavour), running compiled plans."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        if serially is None:
            serially = self.operation.operation == OperationType.MUTATION
        plan = PlanCache.of(self.schema).plan_for(self, serially)
        if plan is None:
            return super().execute_operation(serially)
        return execute_plan(self, plan)


__all__ = ["HubExecutionContext", "Path", "mark_fast_fields"]

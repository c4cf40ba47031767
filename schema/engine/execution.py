"""The executor class of the hub's schema: the compiled path, or graphql-core's; and
the plain attribute resolvers the compiled path reads directly.

:class:`HubExecutionContext` is the ``execution_context_class`` strawberry hands to
graphql-core. Its ``execute_operation`` runs an operation from a cached plan (see
:mod:`schema.engine.cache`) whenever it can, and otherwise the standard executor it
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

from schema.context import HubContext
from schema.engine.cache import PLAN_CACHE_SIZE, PlanCache, execute_plan
from schema.engine.plan import mark_attribute


def mark_fast_fields(gql: GraphQLSchema, attrs: dict[int, str]) -> int:
    """Declare the fields that resolve as a plain attribute read (``attrs``: id of the
    GraphQLField -> attribute name; see :func:`plain_attribute_resolvers`);
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
        ctx = self.context_value
        if isinstance(ctx, HubContext):
            # The operation's channel handle, known before any resolver runs.
            ctx.begin_operation(self.operation, self.variable_values.coerced)
        if serially is None:
            serially = self.operation.operation == OperationType.MUTATION
        plan = PlanCache.of(self.schema).plan_for(self, serially)
        if plan is None:
            return super().execute_operation(serially)
        return execute_plan(self, plan)


def plain_attribute_resolvers(gql: GraphQLSchema, names: Any) -> dict[int, str]:
    """Resolve plain fields with one getattr instead of strawberry's wrapper chain.

    Strawberry resolves a field without a resolver through two Python calls that end in
    ``getattr(source, python_name)``; a page of products resolves ~1,600 such fields, so
    the shorter path saves about a millisecond per listing. Semantics are unchanged.
    Returns {id(field): attribute} for the fields it rewired.
    """
    attrs: dict[int, str] = {}
    for gtype in gql.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        definition = gtype.extensions.get("strawberry-definition")
        if definition is None:
            continue
        by_name = {names.get_graphql_name(f): f for f in definition.fields}
        for name, field in gtype.fields.items():
            if not getattr(field.resolve, "_is_default", False):
                continue
            sfield = by_name.get(name)
            if (
                sfield is None
                or sfield.base_resolver is not None
                or sfield.extensions
                or sfield.permission_classes
            ):
                continue
            field.resolve = _getter(sfield.python_name)
            attrs[id(field)] = sfield.python_name
    return attrs


def _getter(attr: str) -> Any:
    def resolve(source: Any, _info: Any) -> Any:
        return getattr(source, attr)

    # attr-defined: graphql-core's marker for a default resolver, set on a function.
    resolve._is_default = True  # type: ignore[attr-defined]
    return resolve


__all__ = ["HubExecutionContext", "Path", "mark_fast_fields", "plain_attribute_resolvers"]

"""Query limits: depth (validation rule), page size and cost (before execution).

Cost follows the hosted commerce APIs: an object field costs 1, a scalar or enum 0,
and a field paged with `first`/`last` costs 2 plus its page size times the cost of
one item. The requested cost is reported in ``extensions.cost``; a document over
the limit is refused before anything runs. Cost needs the variables, so it is
computed per execution (a few microseconds per field, cached per document+variables).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

DEFAULT_PAGE = 10  # what an unbounded list is assumed to hold


def _int_arg(node: FieldNode, name: str, variables: dict[str, Any]) -> int | None:
    for arg in node.arguments or ():
        if arg.name.value != name:
            continue
        v = arg.value
        if isinstance(v, IntValueNode):
            return int(v.value)
        if isinstance(v, VariableNode):
            val = variables.get(v.name.value)
            return val if isinstance(val, int) and not isinstance(val, bool) else None
    return None


class CostError(GraphQLError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message, extensions={"code": code})


def compute_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    max_page: int,
) -> int:
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0

    def selections(parent: Any, sel_set: Any, seen: frozenset[str]) -> Iterator[tuple[Any, Any]]:
        for sel in sel_set.selections:
            if isinstance(sel, FieldNode):
                yield parent, sel
            elif isinstance(sel, InlineFragmentNode):
                t = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                yield from selections(t or parent, sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = fragments.get(name)
                if frag is not None and name not in seen:
                    t = schema.get_type(frag.type_condition.name.value) or parent
                    yield from selections(t, frag.selection_set, seen | {name})

    def cost_of(parent: Any, sel_set: Any) -> int:
        total = 0
        for ptype, node in selections(parent, sel_set, frozenset()):
            name = node.name.value
            if name.startswith("__"):
                continue
            fields = getattr(ptype, "fields", None)
            fdef = fields.get(name) if fields else None
            if fdef is None:
                continue
            first = _int_arg(node, "first", variables)
            last = _int_arg(node, "last", variables)
            for arg_name, n in (("first", first), ("last", last)):
                if n is not None and not 0 <= n <= max_page:
                    raise CostError(
                        f"`{arg_name}` on `{name}` must be between 0 and {max_page} (got {n})",
                        "INVALID_PAGE",
                    )
            named = get_named_type(fdef.type)
            if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                child = cost_of(named, node.selection_set) if node.selection_set else 0
                paged = first if first is not None else last
                if paged is not None or "first" in fdef.args:
                    n = paged if paged is not None else DEFAULT_PAGE
                    total += 2 + n * child
                else:
                    total += 1 + child
        return total

    return cost_of(root, operation.selection_set)


class QueryCost(SchemaExtension):
    """Rejects documents over the cost limit and reports their cost."""

    def __init__(self, *, max_cost: int, max_page: int, cache_size: int = 1024) -> None:
        self.max_cost = max_cost
        self.max_page = max_page
        self._cache: OrderedDict[tuple[int, bytes, str | None], tuple[Any, int]] = OrderedDict()
        self.cache_size = cache_size
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        doc = ec.graphql_document
        if doc is not None and ec.result is None:
            try:
                self.cost = self._cost(doc, ec.variables or {}, ec.operation_name)
            except CostError as exc:
                ec.result = ExecutionResult(data=None, errors=[exc])
            else:
                if self.cost > self.max_cost:
                    ec.result = ExecutionResult(
                        data=None,
                        errors=[
                            CostError(
                                f"query cost {self.cost} exceeds the limit of {self.max_cost}; "
                                "ask for smaller pages or fewer fields",
                                "MAX_COST_EXCEEDED",
                            )
                        ],
                    )
        yield

    def _cost(self, doc: Any, variables: dict[str, Any], op_name: str | None) -> int:
        key = (id(doc), orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str), op_name)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is doc:  # the parser cache hands back the same doc
            return hit[1]
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        op = next((o for o in ops if op_name is None or (o.name and o.name.value == op_name)), None)
        if op is None:
            return 0
        frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
        cost = compute_cost(
            self.execution_context.schema._schema, op, frags, variables, self.max_page
        )
        self._cache[key] = (doc, cost)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return cost

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requestedQueryCost": self.cost, "maxQueryCost": self.max_cost}}

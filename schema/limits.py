"""Query cost: a ceiling per document and a per-client budget over time.

Cost follows the hosted commerce APIs: an object field costs 1, a scalar or enum 0,
and a field paged with ``first``/``last`` costs 2 plus its page size times the cost of
one item. A list fetched by ids (``nodes(ids:)``, and any field returning a list that
takes a list argument) costs 2 plus the number of ids times the cost of one item.
Aliases count each, and a fragment counts wherever it is spread (each fragment is
priced once per document and variables, so a fragment bomb costs linear time).

The cost is computed after validation (it needs the variables; cached per document and
variables) and reported in ``extensions.cost`` even when validation fails. Before
anything runs, a document over ``HUB_MAX_QUERY_COST`` is refused (``MAX_COST_EXCEEDED``),
and the operation takes its cost from the client's bucket (:mod:`hub.ratelimit`): the
bucket holds ``HUB_COST_BUCKET_SIZE`` points and refills at ``HUB_COST_RESTORE_RATE``
points a second. When it lacks the points the operation is refused with ``THROTTLED``
and ``extensions.retryAfter`` (seconds), and an HTTP request is answered 429 with a
``Retry-After`` header. The bucket's state is in ``extensions.cost.throttleStatus``.
An API key may have a bucket size of its own (``HUB_COST_KEY_BUCKET_SIZES``), and a
server-side storefront's key one bucket per shopper (``HUB_COST_PER_BUYER_KEYS``, the
client being set by :mod:`hub.app`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from hub.ratelimit import Decision, Limiter, Rate

DEFAULT_PAGE = 10  # what an unbounded page is assumed to hold
_COSTS_PER_DOCUMENT = 32  # (variables, operation) costs remembered on one document


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


def _is_list(t: Any) -> bool:
    return isinstance(t.of_type if isinstance(t, GraphQLNonNull) else t, GraphQLList)


def _longest_list_arg(node: FieldNode, fdef: Any, variables: dict[str, Any]) -> int | None:
    """The length of the longest list argument given to a list field (``nodes(ids:)``)."""
    longest: int | None = None
    for arg in node.arguments or ():
        adef = fdef.args.get(arg.name.value)
        if adef is None or not _is_list(adef.type):
            continue
        v = arg.value
        if isinstance(v, ListValueNode):
            n = len(v.values)
        elif isinstance(v, VariableNode):
            val = variables.get(v.name.value)
            n = len(val) if isinstance(val, list) else (0 if val is None else 1)
        elif isinstance(v, NullValueNode):
            n = 0
        else:
            n = 1  # one value where a list is expected is a list of one
        longest = n if longest is None else max(longest, n)
    return longest


class CostError(GraphQLError):
    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


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
    memo: dict[tuple[str, str], int] = {}  # (fragment, parent type) -> cost of one spread

    def cost_of(parent: Any, sel_set: Any, visiting: frozenset[str]) -> int:
        total = 0
        for sel in sel_set.selections:
            if isinstance(sel, InlineFragmentNode):
                t = schema.get_type(sel.type_condition.name.value) if sel.type_condition else None
                total += cost_of(t or parent, sel.selection_set, visiting)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = fragments.get(name)
                if frag is None or name in visiting:
                    continue  # unknown or a cycle: validation refuses the document
                key = (name, getattr(parent, "name", ""))
                if key not in memo:
                    t = schema.get_type(frag.type_condition.name.value) or parent
                    memo[key] = cost_of(t, frag.selection_set, visiting | {name})
                total += memo[key]
            elif isinstance(sel, FieldNode):
                total += field_cost(parent, sel, visiting)
        return total

    def field_cost(parent: Any, node: FieldNode, visiting: frozenset[str]) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        fields = getattr(parent, "fields", None)
        fdef = fields.get(name) if fields else None
        if fdef is None:
            return 0
        first = _int_arg(node, "first", variables)
        last = _int_arg(node, "last", variables)
        for arg_name, n in (("first", first), ("last", last)):
            if n is not None and not 0 <= n <= max_page:
                raise CostError(
                    f"`{arg_name}` on `{name}` must be between 0 and {max_page} (got {n})",
                    "INVALID_PAGE",
                )
        named = get_named_type(fdef.type)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
            return 0
        child = cost_of(named, node.selection_set, visiting) if node.selection_set else 0
        by_ids = _longest_list_arg(node, fdef, variables) if _is_list(fdef.type) else None
        if by_ids is not None:
            return 2 + by_ids * child
        paged = first if first is not None else last
        if paged is not None or "first" in fdef.args:
            return 2 + (paged if paged is not None else DEFAULT_PAGE) * child
        return 1 + child

    return cost_of(root, operation.selection_set, frozenset())


def document_cost(
    schema: GraphQLSchema,
    doc: DocumentNode,
    variables: dict[str, Any],
    op_name: str | None,
    max_page: int,
) -> int:
    """The cost of ``op_name`` in ``doc`` (0 if there is no such operation), remembered on
    the document for the same variables (the document cache keeps hot documents)."""
    try:
        frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:
        frozen = None
    costs: dict[Any, int] = doc.__dict__.setdefault("_hub_costs", {})
    key = (frozen, op_name)
    hit = costs.get(key) if frozen is not None else None
    if hit is not None:
        return hit
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if op_name is None or (o.name and o.name.value == op_name)), None)
    if op is None:
        return 0
    frags = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    cost = compute_cost(schema, op, frags, variables, max_page)
    if frozen is not None:
        if len(costs) >= _COSTS_PER_DOCUMENT:
            costs.clear()
        costs[key] = cost
    return cost


class Budget:
    """The per-client cost bucket: a limiter and its rate (None: no budget), and the
    bucket sizes of API keys that have their own (``HUB_COST_KEY_BUCKET_SIZES``)."""

    def __init__(
        self,
        limiter: Limiter | None,
        size: int,
        restore_rate: int,
        key_sizes: dict[int, int] | None = None,
    ) -> None:
        self.limiter = limiter
        self.rate = Rate(size, size / restore_rate) if limiter is not None and size else None
        self.restore_rate = restore_rate
        self.key_rates = {key: Rate(n, n / restore_rate) for key, n in (key_sizes or {}).items()}

    async def take(self, client: str, cost: int, key_pk: int | None = None) -> Decision | None:
        rate = self.key_rates.get(key_pk, self.rate) if key_pk is not None else self.rate
        if rate is None or self.limiter is None:
            return None
        return await self.limiter.hit(f"cost:{client}", rate, max(cost, 1))


def refuse_http(ctx: Any, status: int, retry_after: int | None = None) -> None:
    """Answer the HTTP request behind ``ctx`` (if any) with ``status`` (and Retry-After)."""
    response = getattr(ctx, "response", None)
    if response is None or not hasattr(response, "status_code"):
        return  # a websocket: the error message says it all
    response.status_code = status
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)


class QueryCost(SchemaExtension):
    """Prices the document, refuses it over the ceiling or the client's budget."""

    def __init__(self, *, max_cost: int, max_page: int, budget: Budget | None = None) -> None:
        self.max_cost = max_cost
        self.max_page = max_page
        self.budget = budget
        self.cost: int | None = None
        self.decision: Decision | None = None
        self._error: CostError | None = None

    def on_validate(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        doc = ec.graphql_document
        if doc is None:
            return
        try:
            self.cost = document_cost(
                ec.schema._schema, doc, ec.variables or {}, ec.operation_name, self.max_page
            )
        except CostError as exc:
            self._error = exc
        except (TypeError, ValueError, AttributeError):
            self.cost = None  # a document validation refuses anyway (bad shapes)

    async def on_execute(self) -> AsyncIterator[None]:
        if self._error is not None:
            raise self._error
        cost = self.cost or 0
        if cost > self.max_cost:
            raise CostError(
                f"query cost {cost} exceeds the limit of {self.max_cost}; "
                "ask for smaller pages, fewer ids or fewer fields",
                "MAX_COST_EXCEEDED",
            )
        ctx = self.execution_context.context
        client = getattr(ctx, "client", None)
        if self.budget is not None and client is not None:
            principal = getattr(ctx, "principal", None)
            key_pk = principal.key_pk if principal is not None else None
            decision = self.decision = await self.budget.take(client, cost, key_pk)
            if decision is not None and not decision.allowed:
                wait = decision.retry_after_seconds
                refuse_http(ctx, 429, wait)
                raise CostError(
                    f"throttled: this query costs {max(cost, 1)} and {int(decision.remaining)} "
                    f"of the client's {decision.limit} points are available (they restore at "
                    f"{self.budget.restore_rate} a second); retry in {wait}s",
                    "THROTTLED",
                    retryAfter=wait,
                )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        out: dict[str, Any] = {"requestedQueryCost": self.cost, "maxQueryCost": self.max_cost}
        decision = self.decision
        if decision is not None and self.budget is not None:
            out["throttleStatus"] = {
                "maximumAvailable": decision.limit,
                "currentlyAvailable": int(decision.remaining),
                "restoreRate": self.budget.restore_rate,
            }
        return {"cost": out}

"""The compiled execution path.

graphql-core resolves every field the same way: a path object, a resolve info,
argument coercion, the resolver, an awaitable check, ``complete_value`` through
several calls. On a listing page (~1,150 fields) that machinery is most of a
request's time. Here an operation is planned once and the plan is run:

- :mod:`schema.engine.plan` turns the operation, with graphql-core's own field
  collection, into a tree of plans: per object selection the steps of its response
  keys, plain attribute fields as direct reads, leaves with exact-type fast paths;
- :mod:`schema.engine.run` runs a plan: a synchronous depth-first pass, then the
  awaited values level by level (one ``gather`` per level, so each dataloader
  batches once per level), with graphql-core's null propagation, error paths and
  error collection; a ``GraphQLResolveInfo`` only for fields with a resolver;
- this module caches plans per (operation, operation name, values of the variables
  that ``@skip``/``@include`` read), bounded (LRU, :data:`PLAN_CACHE_SIZE` per
  schema), beside strawberry's parser and validation caches: the parser cache hands
  back the same document for the same text, so its operation node is the key.

What is not compiled runs on graphql-core's executor unchanged (see
:mod:`schema.engine.execution`): introspection, ``@defer``/``@stream``, fragment
variables, field middleware, an abort signal, disabled error propagation.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.collect_fields import collect_fields

from schema.engine.plan import Compiler, NotCompiled, ObjectPlan, attribute_of, mark_attribute
from schema.engine.run import Run

PLAN_CACHE_SIZE = 1024

_MISSING = object()
_CACHES: weakref.WeakKeyDictionary[GraphQLSchema, PlanCache] = weakref.WeakKeyDictionary()


class _Analysis:
    """What a plan of an operation depends on, found once per operation."""

    __slots__ = ("operation", "reason", "skip_vars")

    def __init__(self, operation: OperationDefinitionNode, reason: str | None, skip_vars: tuple):
        self.operation = operation  # kept alive: its id is the cache key
        self.reason = reason  # why it is not compiled, or None
        self.skip_vars = skip_vars


class RootPlan:
    __slots__ = ("object", "operation", "serial")

    def __init__(self, operation: OperationDefinitionNode, plan: ObjectPlan, serial: bool) -> None:
        self.operation = operation
        self.object = plan
        # Mutations: one plan per root field, run one after the other.
        self.serial: list[ObjectPlan] | None = None
        if serial:
            self.serial = []
            for step in plan.steps:
                single = ObjectPlan(plan.gtype)
                single.steps.append(step)
                self.serial.append(single)


class PlanCache:
    """Plans of one schema, least recently used first out."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[tuple[Any, ...], tuple[Any, RootPlan | None]] = OrderedDict()
        self._analyses: OrderedDict[int, _Analysis] = OrderedDict()
        self.compiled = 0  # plans built (for tests and the bench)
        self.fallbacks = 0  # executions given to graphql-core's executor
        # False: every execution takes graphql-core's executor (the differential
        # tests compare both paths on the same app).
        self.enabled = True

    @classmethod
    def of(cls, schema: GraphQLSchema, size: int = PLAN_CACHE_SIZE) -> PlanCache:
        cache = _CACHES.get(schema)
        if cache is None:
            cache = _CACHES[schema] = cls(size)
        return cache

    def plan_for(self, executor: Any, serially: bool) -> RootPlan | None:
        """The plan of this execution, or None when graphql-core's executor runs it."""
        if (
            not self.enabled
            or executor.abort_signal is not None
            or not executor.error_propagation
            or _has_middleware(executor.middleware_manager)
        ):
            self.fallbacks += 1
            return None
        op = executor.operation
        analysis = self._analysis(executor, op)
        if analysis.reason is not None:
            self.fallbacks += 1
            return None
        coerced = executor.variable_values.coerced
        key = (
            id(op),
            serially,
            tuple(coerced.get(name, _MISSING) for name in analysis.skip_vars),
        )
        hit = self._plans.get(key)
        if hit is not None and hit[0] is op:
            self._plans.move_to_end(key)
            plan = hit[1]
        else:
            plan = self._compile(executor, op, serially)
            self._plans[key] = (op, plan)
            if len(self._plans) > self.size:
                self._plans.popitem(last=False)
        if plan is None:
            self.fallbacks += 1
        return plan

    def _analysis(self, executor: Any, op: OperationDefinitionNode) -> _Analysis:
        got = self._analyses.get(id(op))
        if got is not None and got.operation is op:
            return got
        got = _analyse(executor, op)
        self._analyses[id(op)] = got
        if len(self._analyses) > self.size:
            self._analyses.popitem(last=False)
        return got

    def _compile(
        self, executor: Any, op: OperationDefinitionNode, serially: bool
    ) -> RootPlan | None:
        root_type = executor.schema.get_root_type(op.operation)
        if root_type is None:
            return None  # graphql-core's executor reports it
        try:
            grouped, new_defers, _ = collect_fields(
                executor.schema,
                executor.fragments,
                executor.variable_values,
                root_type,
                op,
                executor.hide_suggestions,
            )
            if new_defers:
                raise NotCompiled("@defer")
            plan = Compiler(executor).object_plan(root_type, grouped)
        except (NotCompiled, GraphQLError, RecursionError):
            return None  # graphql-core's executor runs it (and reports any error)
        self.compiled += 1
        return RootPlan(op, plan, serially)


def _has_middleware(manager: Any) -> bool:
    return manager is not None and bool(getattr(manager, "middlewares", ()))


def _analyse(executor: Any, op: OperationDefinitionNode) -> _Analysis:
    """Directives that rule compilation out, and the variables @skip/@include read."""
    for details in executor.fragments.values():
        if details.variable_signatures or details.definition.variable_definitions:
            return _Analysis(op, "fragment variables", ())
    skip_vars: list[str] = []
    seen: set[str] = set()

    def directives(node: Any) -> str | None:
        for d in node.directives or ():
            name = d.name.value
            if name in ("defer", "stream"):
                return f"@{name}"
            if name in ("skip", "include"):
                for arg in d.arguments or ():
                    v = arg.value
                    if isinstance(v, VariableNode) and v.name.value not in skip_vars:
                        skip_vars.append(v.name.value)
                    elif not isinstance(v, VariableNode | BooleanValueNode):
                        return "unusual @skip/@include"
        return None

    def walk(sel_set: SelectionSetNode | None) -> str | None:
        if sel_set is None:
            return None
        for sel in sel_set.selections:
            reason = directives(sel)
            if reason:
                return reason
            if isinstance(sel, FieldNode | InlineFragmentNode):
                reason = walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = executor.fragment_definitions.get(name)
                if frag is not None and name not in seen:
                    seen.add(name)
                    reason = directives(frag) or walk(frag.selection_set)
            if reason:
                return reason
        return None

    reason = walk(op.selection_set)
    return _Analysis(op, reason, tuple(skip_vars))


def execute_plan(executor: Any, plan: RootPlan) -> Any:
    """Run a root plan on the executor's root value: its ``ExecutionResult``, or an
    awaitable of it when a resolver awaited (graphql-core's ``execute_operation``)."""
    run = Run(executor)
    source = executor.root_value
    if plan.serial is not None:
        return _serial(executor, run, plan.serial, source)
    try:
        data = run.object(plan.object, source, None)
    except GraphQLError as error:  # a non-null root field failed
        executor.collected_errors.add(error, None)
        return executor.build_response(None)
    if executor.is_awaitable(data):
        return _finish(executor, data)
    return executor.build_response(data)


async def _finish(executor: Any, data: Any) -> Any:
    try:
        done = await data
    except GraphQLError as error:
        executor.collected_errors.add(error, None)
        return executor.build_response(None)
    return executor.build_response(done)


async def _serial(executor: Any, run: Run, plans: list[ObjectPlan], source: Any) -> Any:
    """Mutations: each root field completed before the next one starts."""
    data: dict[str, Any] = {}
    try:
        for single in plans:
            part = run.object(single, source, None)
            if executor.is_awaitable(part):
                part = await part
            data.update(part)
    except GraphQLError as error:
        executor.collected_errors.add(error, None)
        return executor.build_response(None)
    return executor.build_response(data)


__all__ = [
    "PLAN_CACHE_SIZE",
    "PlanCache",
    "RootPlan",
    "attribute_of",
    "execute_plan",
    "mark_attribute",
]

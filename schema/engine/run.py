"""Running a plan: one synchronous pass, then the awaited values level by level.

The first pass walks the plan depth-first, as graphql-core does, reading attributes,
calling resolvers and completing values in place. A resolver (or a list item) that
returns an awaitable leaves a placeholder and a pending entry. When the pass is over,
every pending entry of the level is awaited at once (one ``gather``), so every
dataloader ``.load()`` issued by the level joins one batch; their values are then
completed in the order they were met, which may leave pending entries for the next
level, and so on until none is left.

Positions: an object or list value carries its position as a tuple ``(prev, key,
typename, non_null)``, one per object, list or list item, none per leaf. A
``graphql.pyutils.Path`` is built from it only when a resolver needs an info (every
field with a resolver), an ``is_type_of`` or ``resolve_type`` does, or an error is
raised.

Errors follow graphql-core exactly: a field error is located at the field's path; if
the field (or list item) is non-null it propagates to the nearest nullable position,
which becomes null; the errors are collected in graphql-core's ``CollectedErrors``,
which drops errors raised under a position already nulled. In the synchronous pass a
non-null error propagates as an exception (as in graphql-core); from an awaited value,
the nearest nullable ancestor is found from the positions and set to null in place.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from graphql import GraphQLError, located_error
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.executor import invalid_return_type_error
from graphql.pyutils import Path, Undefined, is_iterable

from schema.engine.plan import ABSTRACT, ATTR, LEAF, LIST, OBJECT, TYPENAME, Compiler, Step

_new_path = tuple.__new__
# Loop iterations an error takes to climb from a non-null awaited position to its
# nullable ancestor (see Run._late).
LATE_TICKS = 3


def path_of(pos: tuple | None) -> Path | None:
    """The graphql-core ``Path`` of a position."""
    if pos is None:
        return None
    return _new_path(Path, (path_of(pos[0]), pos[1], pos[2]))


class Run:
    """The state of one execution of a plan."""

    __slots__ = (
        "compiler",
        "done",
        "errors",
        "ex",
        "futures",
        "is_awaitable",
        "moved",
        "outstanding",
        "pending",
        "propagate",
        "root",
    )

    def __init__(self, executor: Any, compiler: Compiler | None) -> None:
        self.ex = executor
        self.errors = executor.collected_errors
        self.is_awaitable = executor.is_awaitable
        self.propagate = executor.error_propagation
        self.compiler = compiler
        self.pending: list[tuple[Any, ...]] = []
        self.root: dict[str, Any] | None = None
        self.moved = False  # a value was completed at a later level (see _defer)

    # ------------------------------------------------------------------ objects

    def object(self, plan: Any, source: Any, pos: tuple | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        type_name = plan.type_name
        for step in plan.steps:
            key = step.key
            try:
                kind = step.kind
                if kind is ATTR:
                    value = getattr(source, step.attr)
                elif kind is TYPENAME:
                    out[key] = type_name
                    continue
                else:
                    value = self.call(step, source, pos)
                    if self.is_awaitable(value):
                        out[key] = None
                        fpos = (pos, key, type_name, step.nonnull)
                        self.pending.append((value, step.completer, out, key, fpos, step))
                        continue
                c = step.completer
                if c.kind is LEAF:
                    if value is None:
                        if c.nonnull:
                            raise TypeError(_null_msg(step))
                        out[key] = None
                    elif type(value) is c.fast and c.fast_check is None:
                        out[key] = value
                    else:
                        out[key] = c.leaf(value)
                else:
                    out[key] = self.complete(c, step, value, (pos, key, type_name, step.nonnull))
            except Exception as exc:
                out[key] = self.fail(exc, step, (pos, key, type_name, step.nonnull))
        return out

    def call(self, step: Step, source: Any, pos: tuple | None) -> Any:
        """The field's resolver on ``source``, with a real info and its arguments."""
        ex = self.ex
        path = _new_path(Path, (path_of(pos), step.key, step.parent_name))
        info = ex.build_resolve_info(step.field_def, step.nodes, step.parent_type, path)
        args = step.args
        if args is False:
            first: FieldDetails = step.details[0]
            from graphql.execution.values import get_argument_values

            args = get_argument_values(
                step.field_def,
                first.node,
                ex.variable_values,
                first.fragment_variable_values,
                ex.hide_suggestions,
            )
        if args:
            return step.resolve(source, info, **args)
        return step.resolve(source, info)

    def info_for(self, step: Step, pos: tuple) -> Any:
        """The resolve info of the field at ``pos`` (for is_type_of, resolve_type)."""
        while pos[1].__class__ is int:  # a list item: the info is the list field's
            pos = pos[0]
        path = path_of(pos)
        return self.ex.build_resolve_info(step.field_def, step.nodes, step.parent_type, path)

    # ------------------------------------------------------------------ values

    def complete(self, c: Any, step: Step, value: Any, pos: tuple) -> Any:
        """graphql-core's ``complete_value`` for ``value`` at ``pos``."""
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if c.nonnull:
                raise TypeError(_null_msg(step))
            return None
        kind = c.kind
        if kind is OBJECT:
            check = c.is_type_of
            if check is not None:
                ok = check(value, self.info_for(step, pos) if c.type_info else None)
                if self.is_awaitable(ok):
                    return self._later_type_check(c, step, value, pos, ok)
                if not ok:
                    raise invalid_return_type_error(c.gtype, value, step.details)
            return self.object(c.plan, value, pos)
        if kind is LIST:
            return self.list(c, step, value, pos)
        if kind is LEAF:
            return c.leaf(value)
        return self.abstract(c, step, value, pos)

    def list(self, c: Any, step: Step, value: Any, pos: tuple) -> list[Any]:
        if not is_iterable(value):
            if self.ex.is_async_iterable(value):
                return self._later_list(c, step, value, pos)
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{step.parent_name}.{step.name}'."
            )
        item = c.item
        out: list[Any] = []
        append = out.append
        is_awaitable = self.is_awaitable
        if item.kind is LEAF and item.fast is not None and item.fast_check is None:
            fast = item.fast
            for i, v in enumerate(value):
                if type(v) is fast:
                    append(v)
                else:
                    self._item(item, step, v, (pos, i, None, item.nonnull), out)
            return out
        for i, v in enumerate(value):
            ipos = (pos, i, None, item.nonnull)
            if is_awaitable(v):
                append(None)
                self.pending.append((v, item, out, i, ipos, step))
            else:
                self._item(item, step, v, ipos, out)
        return out

    def _item(self, item: Any, step: Step, v: Any, ipos: tuple, out: list[Any]) -> None:
        try:
            out.append(self.complete(item, step, v, ipos))
        except Exception as exc:
            out.append(self.fail(exc, step, ipos))

    def abstract(self, c: Any, step: Step, value: Any, pos: tuple) -> Any:
        ex = self.ex
        info = self.info_for(step, pos)
        resolve_type = c.abstract.resolve_type or ex.type_resolver
        runtime = resolve_type(value, info, c.abstract)
        if self.is_awaitable(runtime):
            return self._later_abstract(c, step, value, pos, runtime, info)
        return self._runtime_object(c, step, value, pos, runtime, info)

    def _runtime_object(
        self, c: Any, step: Step, value: Any, pos: tuple, runtime: Any, info: Any
    ) -> Any:
        otype = self.ex.ensure_valid_runtime_type(runtime, c.abstract, step.details, info, value)
        plan = c.plans.get(otype.name)
        if plan is None:
            compiler = self.compiler or Compiler(self.ex)
            plan = c.plans[otype.name] = compiler.sub_plan(otype, step.details)
        check = otype.is_type_of
        if check is not None:
            ok = check(value, info)
            if self.is_awaitable(ok):
                oc = _object_completer(otype, plan, c.nonnull)
                return self._later_type_check(oc, step, value, pos, ok)
            if not ok:
                raise invalid_return_type_error(otype, value, step.details)
        return self.object(plan, value, pos)

    # --------------------------------------------------------- awaited values

    def _later_type_check(self, c: Any, step: Step, value: Any, pos: tuple, ok: Any) -> None:
        async def check() -> Any:
            if not await ok:
                raise invalid_return_type_error(c.gtype, value, step.details)
            return value

        return self._defer(check(), _object_completer(c.gtype, c.plan, c.nonnull, False), step, pos)

    def _later_abstract(
        self, c: Any, step: Step, value: Any, pos: tuple, runtime: Any, info: Any
    ) -> None:
        async def resolve() -> Any:
            return _Resolved(await runtime)

        return self._defer(resolve(), _AbstractThen(c, value, info), step, pos)

    def _later_list(self, c: Any, step: Step, value: Any, pos: tuple) -> None:
        async def collect() -> list[Any]:
            return [item async for item in value]

        return self._defer(collect(), _ListThen(c), step, pos)

    def _defer(self, awaitable: Any, then: Any, step: Step, pos: tuple) -> None:
        """Complete the value at ``pos`` at the next level (rare shapes only: an
        awaitable is_type_of or resolve_type, an async iterable for a list)."""
        holder: list[Any] = [None]
        self.moved = True
        self.pending.append((awaitable, then, holder, 0, pos, step))
        return _Moved(holder)  # type: ignore[return-value]

    async def finish(self) -> None:
        """Await the pending entries: each is completed as its value arrives (in the
        done callback of its future), as graphql-core's one coroutine per awaited
        field would, so loads issued in one event-loop iteration batch together and
        errors are collected in graphql-core's order. Entries found while completing
        start at once; this returns when none is left."""
        if not self.pending:
            return
        self.done = asyncio.get_running_loop().create_future()
        self.outstanding = 0
        self.futures: set[Any] = set()
        self._launch()
        try:
            await self.done
        except asyncio.CancelledError:
            for fut in self.futures:
                fut.cancel()
            raise

    def _launch(self) -> None:
        batch, self.pending = self.pending, []
        for entry in batch:
            fut = asyncio.ensure_future(entry[0])
            self.outstanding += 1
            self.futures.add(fut)
            fut.add_done_callback(partial(self._arrived, entry))

    def _arrived(self, entry: tuple[Any, ...], fut: Any) -> None:
        self.futures.discard(fut)
        self.outstanding -= 1
        value = asyncio.CancelledError() if fut.cancelled() else (fut.exception() or fut.result())
        try:
            self.settle(entry, value)
        except BaseException as exc:  # a cancellation: the request is going away
            if not self.done.done():
                self.done.set_exception(exc)
            return
        if self.pending:
            self._launch()
        self._check_done()

    def _check_done(self) -> None:
        if self.outstanding == 0 and not self.done.done():
            self.done.set_result(None)

    def _late(self, error: GraphQLError, pos: tuple, ticks: int) -> None:
        """An error leaving a non-null awaited position reaches its nullable ancestor
        a few loop iterations later: in graphql-core it climbs through the awaiting
        coroutines (a task's end, its gather, the awaiting task) before it is
        collected, and errors raised meanwhile elsewhere are collected first."""
        if ticks > 0:
            asyncio.get_running_loop().call_soon(self._late, error, pos, ticks - 1)
            return
        self.outstanding -= 1
        self.null_ancestor(error, pos)
        self._check_done()

    def settle(self, entry: tuple[Any, ...], value: Any) -> None:
        _, c, container, key, pos, step = entry
        errors = self.errors
        if errors.errors and errors.has_nulled_position(path_of(pos)):
            return  # under a position already null: graphql-core cancels this work
        try:
            if isinstance(value, BaseException):
                raise value  # a cancellation goes on up; an error is this field's
            if isinstance(c, _Then):
                done = c.then(self, step, value, pos)
            elif c.kind is LEAF and value is not None and value is not Undefined:
                done = c.leaf(value)
            else:
                done = self.complete(c, step, value, pos)
            container[key] = done
        except Exception as exc:
            try:
                container[key] = self.fail(exc, step, pos)
            except GraphQLError as error:
                self.outstanding += 1
                self._late(error, pos, LATE_TICKS)

    # ------------------------------------------------------------------ errors

    def fail(self, exc: Exception, step: Step, pos: tuple) -> None:
        """graphql-core's ``handle_field_error`` at ``pos`` (a field or list item)."""
        path = path_of(pos)
        error = located_error(exc, step.nodes, path.as_list())  # type: ignore[union-attr]
        if pos[3] and self.propagate:
            raise error
        self.errors.add(error, path)
        return None

    def null_ancestor(self, error: GraphQLError, pos: tuple) -> None:
        """A non-null position failed after an await: null its nearest nullable
        ancestor in the data already built (the whole data at the root)."""
        up = pos[0]
        while up is not None and up[3]:
            up = up[0]
        path = path_of(up)
        if self.errors.has_nulled_position(path):
            return
        self.errors.add(error, path)
        if path is None:
            self.root = None
            return
        keys = path.as_list()
        node: Any = self.root
        for k in keys[:-1]:
            if node is None:
                return
            node = node[k]
            if isinstance(node, _Moved):
                node = node.holder[0]
        if node is not None:
            node[keys[-1]] = None


def _null_msg(step: Step) -> str:
    return f"Cannot return null for non-nullable field {step.parent_name}.{step.name}."


# ------------------------------------------------------------ rare shapes


class _Moved:
    """A value completed at a later level (see :meth:`Run._defer`)."""

    __slots__ = ("holder",)

    def __init__(self, holder: list[Any]) -> None:
        self.holder = holder


class _Resolved:
    __slots__ = ("name",)

    def __init__(self, name: Any) -> None:
        self.name = name


class _Then:
    def then(self, run: Run, step: Step, value: Any, pos: tuple) -> Any:
        raise NotImplementedError


class _AbstractThen(_Then):
    def __init__(self, c: Any, value: Any, info: Any) -> None:
        self.c, self.value, self.info = c, value, info

    def then(self, run: Run, step: Step, value: Any, pos: tuple) -> Any:
        return run._runtime_object(self.c, step, self.value, pos, value.name, self.info)


class _ListThen(_Then):
    def __init__(self, c: Any) -> None:
        self.c = c

    def then(self, run: Run, step: Step, value: Any, pos: tuple) -> Any:
        return run.list(self.c, step, value, pos)


def _object_completer(gtype: Any, plan: Any, nonnull: bool, check: bool = True) -> Any:
    from schema.engine.plan import Completer

    oc = Completer(OBJECT, nonnull, gtype)
    oc.plan = plan
    oc.is_type_of = gtype.is_type_of if check else None
    return oc


def resolve_moved(data: Any) -> Any:
    """Replace the placeholders of values completed later by those values."""
    if isinstance(data, _Moved):
        return resolve_moved(data.holder[0])
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, dict | list | _Moved):
                data[k] = resolve_moved(v)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            if isinstance(v, dict | list | _Moved):
                data[i] = resolve_moved(v)
    return data


__all__ = ["ABSTRACT", "LIST", "OBJECT", "Run", "path_of", "resolve_moved"]

"""Running a plan: a synchronous depth-first pass; awaits shaped as graphql-core's.

The pass walks the plan as graphql-core's executor walks the document: reading
attributes, calling resolvers and completing values in place. Where a resolver (or a
list item) returns an awaitable, the value becomes a coroutine completing it later,
and the object (or list) holding it becomes a coroutine that awaits its pending
values, one directly or several with ``gather`` (cancelling the others when one
fails), exactly where graphql-core's ``execute_fields`` and ``complete_list_value``
do. The awaits being the same, so are the event-loop passes: every ``.load()`` of
the dataloaders issued in one pass joins one batch (the statement counts are
graphql-core's), and errors are collected in graphql-core's order, also when they
race (an error climbing through the awaiting coroutines to its nullable ancestor
while another field fails elsewhere).

Positions: an object or list value carries its position as a tuple ``(prev, key,
typename)``, one per object, list or list item, none per leaf. A
``graphql.pyutils.Path`` is built from it only when a resolver needs an info (every
field with a resolver), an ``is_type_of`` or ``resolve_type`` does, or an error is
raised.

Errors follow graphql-core: a field error is located at the field's path; a non-null
field or list item re-raises it to its parent, up to the nearest nullable position,
which becomes null; errors go to graphql-core's ``CollectedErrors``, which drops
those raised under a position already nulled.
"""

from __future__ import annotations

import builtins
from functools import partial
from typing import Any

from graphql import GraphQLError, located_error
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.executor import invalid_return_type_error
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel, is_iterable

from schema.engine.direct import LazyInfo
from schema.engine.plan import ATTR, LEAF, LIST, OBJECT, TYPENAME, Compiler, Completer, Step

_new_path = tuple.__new__
# Values that are certainly not awaitable (completed objects and lists, null) and
# certainly iterable for a list field: checked by class before the general tests.
_PLAIN = frozenset({dict, list, type(None)})
_SEQUENCES = frozenset({list, tuple})
# Resolver values that are certainly not awaitable, checked by class first.
_NOT_AWAITABLE = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


def path_of(pos: tuple | None) -> Path | None:
    """The graphql-core ``Path`` of a position."""
    if pos is None:
        return None
    return _new_path(Path, (path_of(pos[0]), pos[1], pos[2]))


class Run:
    """One execution of a plan."""

    __slots__ = ("errors", "ex", "is_awaitable", "propagate")

    def __init__(self, executor: Any) -> None:
        self.ex = executor
        self.errors = executor.collected_errors
        self.is_awaitable = executor.is_awaitable
        self.propagate = executor.error_propagation

    # ------------------------------------------------------------------ objects

    def object(self, plan: Any, source: Any, pos: tuple | None) -> Any:
        """The object's fields (graphql-core's ``execute_fields``): a dict, or a
        coroutine of it when some field awaits."""
        flat = plan.flat
        if flat is not None:
            # Attribute reads of leaves only: no awaits, nothing to propagate unless a
            # value is null where it may not be, or an error; then the full pass below
            # does it all again (attribute reads have no effects).
            out = {}
            try:
                for key, attr, c in flat:
                    if c is None:
                        out[key] = plan.type_name
                        continue
                    value = getattr(source, attr)
                    if type(value) is c.fast and c.fast_check is None:
                        out[key] = value
                    elif value is None:
                        if c.nonnull:
                            break
                        out[key] = None
                    else:
                        out[key] = c.leaf(value)
                else:
                    return out
            except Exception:
                pass
            return self.fields(plan, source, pos)
        return self.fields(plan, source, pos)

    def fields(self, plan: Any, source: Any, pos: tuple | None) -> Any:
        """:meth:`object` for any plan."""
        out: dict[str, Any] = {}
        waiting: list[str] | None = None
        type_name = plan.type_name
        is_awaitable = self.is_awaitable
        try:
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
                        if value.__class__ not in _NOT_AWAITABLE and is_awaitable(value):
                            fpos = (pos, key, type_name)
                            out[key] = self.later(value, step.completer, step, fpos)
                            waiting = [key] if waiting is None else [*waiting, key]
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
                        continue
                    fpos = (pos, key, type_name)
                    done = self.complete(c, step, value, fpos)
                    if done.__class__ in _PLAIN or not is_awaitable(done):
                        out[key] = done
                    else:
                        out[key] = self.catch(done, c.nonnull, step, fpos)
                        waiting = [key] if waiting is None else [*waiting, key]
                except Exception as exc:
                    self.fail(exc, step.nonnull, step, (pos, key, type_name))
                    out[key] = None
        except Exception:
            if waiting:
                self.ex.settle_in_background([out[k] for k in waiting])
            raise
        if waiting is None:
            return out
        return self._gather_fields(out, waiting)

    async def _gather_fields(self, out: dict[str, Any], waiting: list[str]) -> dict[str, Any]:
        if len(waiting) == 1:
            key = waiting[0]
            out[key] = await out[key]
        else:
            got = await gather_with_cancel(*(out[k] for k in waiting))
            out.update(zip(waiting, got, strict=True))
        return out

    def call(self, step: Step, source: Any, pos: tuple | None) -> Any:
        """The field's resolver on ``source`` with its arguments: called directly
        (see :mod:`schema.engine.direct`), or graphql-core's resolve with an info."""
        direct = step.direct
        if direct is not None:
            kwargs = step.direct_kwargs
            if kwargs is None:
                args = self.arguments(step)
                if direct.guard is not None and direct.guard.problems(args):
                    return self.resolve(step, source, pos, args)
                kwargs = direct.kwargs(args)
            else:
                kwargs = kwargs.copy()
            if direct.info is not None:
                kwargs[direct.info] = LazyInfo(
                    self.ex.context_value, direct.field, partial(self.raw_info, step, pos)
                )
            for name in direct.root:
                kwargs[name] = source
            if direct.self_arg:
                return direct.func(source, **kwargs)
            return direct.func(**kwargs)
        return self.resolve(step, source, pos, None)

    def raw_info(self, step: Step, pos: tuple | None) -> Any:
        """The ``GraphQLResolveInfo`` of the field ``step`` under ``pos``."""
        path = _new_path(Path, (path_of(pos), step.key, step.parent_name))
        return self.ex.build_resolve_info(step.field_def, step.nodes, step.parent_type, path)

    def arguments(self, step: Step) -> dict[str, Any]:
        args = step.args
        if args is False:
            first: FieldDetails = step.details[0]
            return get_argument_values(
                step.field_def,  # type: ignore[arg-type]  # a resolver step always has its field
                first.node,
                self.ex.variable_values,
                first.fragment_variable_values,
                self.ex.hide_suggestions,
            )
        return args or {}

    def resolve(self, step: Step, source: Any, pos: tuple | None, args: Any) -> Any:
        """graphql-core's resolve of the field, with a real info."""
        ex = self.ex
        path = _new_path(Path, (path_of(pos), step.key, step.parent_name))
        info = ex.build_resolve_info(step.field_def, step.nodes, step.parent_type, path)
        if args is None:
            args = step.args
        if args is False:
            first: FieldDetails = step.details[0]
            args = get_argument_values(
                step.field_def,  # type: ignore[arg-type]  # a resolver step always has its field
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

    def complete(self, c: Completer, step: Step, value: Any, pos: tuple) -> Any:
        """graphql-core's ``complete_value`` for ``value`` at ``pos``."""
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            if c.nonnull:
                raise TypeError(_null_msg(step))
            return None
        kind = c.kind
        if kind is OBJECT:
            record = c.record
            if record is not None:
                if value.__class__ is record or isinstance(value, record):
                    return self.object(c.plan, value, pos)
                raise invalid_return_type_error(c.gtype, value, step.details)
            check = c.is_type_of
            if check is not None:
                ok = check(value, self.info_for(step, pos) if c.type_info else None)
                if self.is_awaitable(ok):
                    return self._checked_later(c.gtype, c.plan, step, value, pos, ok)
                if not ok:
                    raise invalid_return_type_error(c.gtype, value, step.details)
            return self.object(c.plan, value, pos)
        if kind is LIST:
            return self.list(c, step, value, pos)
        if kind is LEAF:
            return c.leaf(value)
        return self.abstract(c, step, value, pos)

    def list(self, c: Completer, step: Step, value: Any, pos: tuple) -> Any:
        """graphql-core's ``complete_list_value``: a list, or a coroutine of it."""
        if value.__class__ not in _SEQUENCES and not is_iterable(value):
            if self.ex.is_async_iterable(value):
                return self._async_list(c, step, value, pos)
            raise GraphQLError(
                "Expected Iterable, but did not find one for field"
                f" '{step.parent_name}.{step.name}'."
            )
        item = c.item
        assert item is not None
        out: list[Any] = []
        append = out.append
        if item.kind is LEAF and item.fast is not None and item.fast_check is None:
            fast = item.fast
            for i, v in enumerate(value):
                if type(v) is fast:
                    append(v)
                else:
                    self._item(item, step, v, (pos, i, None), out)
            return out
        is_awaitable = self.is_awaitable
        waiting: list[int] | None = None
        try:
            for i, v in enumerate(value):
                ipos = (pos, i, None)
                if is_awaitable(v):
                    append(self.later(v, item, step, ipos))
                elif not self._item(item, step, v, ipos, out):
                    continue
                waiting = [i] if waiting is None else [*waiting, i]
        except Exception:
            if waiting:
                self.ex.settle_in_background([out[i] for i in waiting])
            raise
        if waiting is None:
            return out
        return self._gather_items(out, waiting)

    async def _gather_items(
        self, out: builtins.list[Any], waiting: builtins.list[int]
    ) -> builtins.list[Any]:
        if len(waiting) == 1:
            i = waiting[0]
            out[i] = await out[i]
        else:
            got = await gather_with_cancel(*(out[i] for i in waiting))
            for i, v in zip(waiting, got, strict=True):
                out[i] = v
        return out

    def _item(
        self, item: Completer, step: Step, v: Any, ipos: tuple, out: builtins.list[Any]
    ) -> bool:
        """Complete a list item into ``out``; True when what went in is awaitable."""
        try:
            done = self.complete(item, step, v, ipos)
            if done.__class__ not in _PLAIN and self.is_awaitable(done):
                out.append(self.catch(done, item.nonnull, step, ipos))
                return True
            out.append(done)
        except Exception as exc:
            self.fail(exc, item.nonnull, step, ipos)
            out.append(None)
        return False

    def abstract(self, c: Completer, step: Step, value: Any, pos: tuple) -> Any:
        info = self.info_for(step, pos)
        resolve_type = c.abstract.resolve_type or self.ex.type_resolver
        runtime = resolve_type(value, info, c.abstract)
        if self.is_awaitable(runtime):
            return self._abstract_later(c, step, value, pos, runtime, info)
        return self._runtime_object(c, step, value, pos, runtime, info)

    def _runtime_object(
        self, c: Completer, step: Step, value: Any, pos: tuple, runtime: Any, info: Any
    ) -> Any:
        otype = self.ex.ensure_valid_runtime_type(runtime, c.abstract, step.details, info, value)
        plan = c.plans.get(otype.name)
        if plan is None:
            plan = c.plans[otype.name] = Compiler(self.ex).sub_plan(otype, step.details)
        check = otype.is_type_of
        if check is not None:
            ok = check(value, info)
            if self.is_awaitable(ok):
                return self._checked_later(otype, plan, step, value, pos, ok)
            if not ok:
                raise invalid_return_type_error(otype, value, step.details)
        return self.object(plan, value, pos)

    # ------------------------------------------------------------ awaited values

    async def later(self, value: Any, c: Completer, step: Step, pos: tuple) -> Any:
        """An awaited resolver value or list item, completed (graphql-core's
        ``complete_awaitable_value`` / ``complete_awaitable_list_item_value``)."""
        try:
            resolved = await value
            if c.kind is LEAF and resolved is not None and resolved is not Undefined:
                return c.leaf(resolved)
            done = self.complete(c, step, resolved, pos)
            if self.is_awaitable(done):
                done = await done
        except Exception as exc:
            return self.fail(exc, c.nonnull, step, pos)
        return done

    async def catch(self, done: Any, nonnull: bool, step: Step, pos: tuple) -> Any:
        """A completion that awaits, with the field's (or item's) error handling."""
        try:
            return await done
        except Exception as exc:
            return self.fail(exc, nonnull, step, pos)

    async def _checked_later(
        self, otype: Any, plan: Any, step: Step, value: Any, pos: tuple, ok: Any
    ) -> Any:
        if not await ok:
            raise invalid_return_type_error(otype, value, step.details)
        done = self.object(plan, value, pos)
        return (await done) if self.is_awaitable(done) else done

    async def _abstract_later(
        self, c: Completer, step: Step, value: Any, pos: tuple, runtime: Any, info: Any
    ) -> Any:
        done = self._runtime_object(c, step, value, pos, await runtime, info)
        return (await done) if self.is_awaitable(done) else done

    async def _async_list(self, c: Completer, step: Step, value: Any, pos: tuple) -> Any:
        items = [item async for item in value]
        done = self.list(c, step, items, pos)
        return (await done) if self.is_awaitable(done) else done

    # ------------------------------------------------------------------ errors

    def fail(self, exc: Exception, nonnull: bool, step: Step, pos: tuple) -> None:
        """graphql-core's ``handle_field_error`` at ``pos`` (a field or list item)."""
        path = path_of(pos)
        # union-attr: a field or list item always has a path (pos is never None here).
        error = located_error(exc, step.nodes, path.as_list())  # type: ignore[union-attr]
        if nonnull and self.propagate:
            raise error
        self.errors.add(error, path)
        return None


def _null_msg(step: Step) -> str:
    return f"Cannot return null for non-nullable field {step.parent_name}.{step.name}."


__all__ = ["Run", "path_of"]

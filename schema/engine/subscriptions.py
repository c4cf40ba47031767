"""One execution of a subscription event per process for all the subscribers asking
the same thing of it.

:class:`SubscriptionExecutionContext` is the hub's ``execution_context_class``
(:class:`schema.engine.execution.HubExecutionContext` for queries and mutations, which
only pay an ``isinstance``). Relies on graphql-core's ``build_per_event_executor``,
``execute_operation``, ``collected_errors`` / ``CollectedErrors``, ``root_value``,
``operation``, ``variable_values`` and ``context_value``:
``tests/schema/test_strawberry_internals.py`` pins them.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql.execution.executor import CollectedErrors
from graphql.pyutils import is_awaitable

from schema.engine.execution import HubExecutionContext


class SharedEvent:
    """An event's value, shared by every subscriber of one process in one channel. It
    also keeps the results of executing subscription documents on it, so subscribers
    asking the same thing share one execution (see :class:`SubscriptionExecutionContext`)."""

    __slots__ = ("results",)

    def __init__(self) -> None:
        self.results: dict[tuple[Any, ...], tuple[Any, Any]] = {}


class SubscriptionExecutionContext(HubExecutionContext):
    """:class:`HubExecutionContext` that executes a subscription event once per process
    for all the subscribers asking the same thing of it.

    An event's value is one object per (event, kind, channel) in a process (see
    :class:`_Snapshots`); the result of a document on it depends only on the document,
    its variables and the caller's scopes. The first subscriber executes it, with its
    own fresh dataloaders; the others with the same key get that result. Only results
    computed without waiting (no resolver touched the database) and without errors are
    shared; anything else runs per subscriber as it would anyway. Queries and mutations
    only pay an ``isinstance``.
    """

    def build_per_event_executor(self, payload: Any) -> Any:
        # graphql-core copies the subscription's executor for every event with
        # ``copy.copy`` (slow, generic); per subscriber per event that adds up. A shared
        # result skips the copy altogether; otherwise a plain ``__dict__`` copy.
        if isinstance(payload, SharedEvent):
            key = self._hub_key()
            if key is not None:
                hit = payload.results.get(key)
                if hit is not None and hit[0] is self.operation:
                    return _Executed(hit[1])
        executor = object.__new__(type(self))
        executor.__dict__.update(self.__dict__)
        executor.root_value = payload
        executor.collected_errors = CollectedErrors()
        return executor

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        value = self.root_value
        if not isinstance(value, SharedEvent):
            return super().execute_operation(*args, **kwargs)
        # A result already shared never gets here (see build_per_event_executor).
        key = self._hub_key()
        result = super().execute_operation(*args, **kwargs)
        if key is not None and not is_awaitable(result) and not result.errors:
            # The operation node is kept with the result: its id can't be reused meanwhile.
            value.results[key] = (self.operation, result)
        return result

    def _hub_key(self) -> tuple[Any, ...] | None:
        # Fixed for the life of a subscription (document, variables, the connection's
        # principal): computed once, and copied into every per-event executor.
        try:
            return self.__dict__["_hub_share_key"]
        except KeyError:
            key = self.__dict__["_hub_share_key"] = self._share_key()
            return key

    def _share_key(self) -> tuple[Any, ...] | None:
        principal = getattr(self.context_value, "principal", None)
        if principal is None:
            return None
        variables = getattr(self.variable_values, "coerced", self.variable_values)
        try:
            frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=repr)
        except TypeError:
            return None
        return (id(self.operation), frozen, principal.scopes)


class _Executed:
    """A per-event executor whose result was already computed for another subscriber."""

    __slots__ = ("result",)

    def __init__(self, result: Any) -> None:
        self.result = result

    def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
        return self.result

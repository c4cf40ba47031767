"""The schema class and its extensions runner.

:class:`HubSchema` is ``strawberry.Schema`` with :class:`ExtensionsRunner` (strawberry's
``SchemaExtensionsRunner`` with the per-result work of a stream cut to the extensions
that take part in it, and each extension class's hooks looked up once, not per
request) and the hub's error logging (:func:`schema.engine.masking.log_errors`).
Relies on ``Schema.create_extensions_runner`` and ``Schema.process_errors`` and on the
runner's ``extensions``, ``on_stream_result`` and ``get_extensions_results``:
``tests/schema/test_strawberry_internals.py`` pins them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from contextlib import _AsyncGeneratorContextManager, _GeneratorContextManager
from functools import partial
from typing import Any, cast

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

from schema.engine.masking import log_errors


class _NoHooks:
    """An async context manager that does nothing (no extension hooks a stream result)."""

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> bool:
        return False


_NO_HOOKS = _NoHooks()


class _StreamHooks:
    """Runs the sync generator ``on_stream_result`` hooks around one streamed result."""

    __slots__ = ("_running", "hooks", "result")

    def __init__(self, hooks: list[SchemaExtension], result: Any) -> None:
        self.hooks = hooks
        self.result = result
        self._running: list[Any] = []

    async def __aenter__(self) -> None:
        for ext in self.hooks:
            # A generator function: the runner checked it (ExtensionsRunner.__init__).
            gen = cast(Iterator[None], type(ext).on_stream_result(ext, self.result))
            next(gen)
            self._running.append(gen)

    async def __aexit__(self, *exc: object) -> bool:
        for gen in reversed(self._running):
            with contextlib.suppress(StopIteration):
                next(gen)
        return False


# (extension class, hook name) -> ("gen" | "agen" | "call", hook function) or None.
_HOOKS: dict[tuple[type, str], tuple[str, Any] | None] = {}


def _hook_kind(cls: type, name: str) -> tuple[str, Any] | None:
    key = (cls, name)
    try:
        return _HOOKS[key]
    except KeyError:
        pass
    fn = getattr(cls, name)
    kind: tuple[str, Any] | None
    if fn is getattr(SchemaExtension, name):
        kind = None
    elif inspect.isgeneratorfunction(fn):
        kind = ("gen", fn)
    elif inspect.isasyncgenfunction(fn):
        kind = ("agen", fn)
    else:
        kind = ("call", fn)
    _HOOKS[key] = kind
    return kind


class _CachedHooks:
    """strawberry's hook lookup, with what each extension class's hook is found once
    (strawberry inspects every hook of every extension on every request) and the
    context managers made without ``functools.wraps`` (contextlib's own classes)."""

    HOOK_NAME: str

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        kind = _hook_kind(type(extension), self.HOOK_NAME)
        if kind is None:
            return None
        how, fn = kind
        if how == "gen":
            return WrappedHook(
                extension, partial(_GeneratorContextManager, fn, (extension,), {}), False
            )
        if how == "agen":
            return WrappedHook(
                extension, partial(_AsyncGeneratorContextManager, fn, (extension,), {}), True
            )
        # attr-defined: strawberry's get_hook, next in the MRO of the classes below.
        return super().get_hook(extension)  # type: ignore[misc]


class _Operation(_CachedHooks, OperationContextManager):
    pass


class _Validation(_CachedHooks, ValidationContextManager):
    pass


class _Parsing(_CachedHooks, ParsingContextManager):
    pass


class _Executing(_CachedHooks, ExecutingContextManager):
    pass


class ExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner, with the per-result work of a stream (every subscription
    event of every subscriber) cut to the extensions that take part in it: the stream
    hooks of those that define one, and the results of those that report any. The
    others' base-class hooks do nothing, so the outcome is the same."""

    def __init__(self, execution_context: Any, extensions: list[SchemaExtension] | None = None):
        super().__init__(execution_context, extensions)
        base = SchemaExtension
        self._reporting = [
            e for e in self.extensions if type(e).get_results is not base.get_results
        ]
        hooked = [
            e for e in self.extensions if type(e).on_stream_result is not base.on_stream_result
        ]
        self._stream_hooks = (
            hooked
            if all(inspect.isgeneratorfunction(type(e).on_stream_result) for e in hooked)
            else None
        )

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)

    def on_stream_result(self, result: Any) -> Any:
        if self._stream_hooks is None:
            return super().on_stream_result(result)
        if not self._stream_hooks:
            return _NO_HOOKS
        return _StreamHooks(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self._reporting:
            got = extension.get_results()
            if inspect.isawaitable(got):
                got = await got
            data.update(got)
        data.update(ctx.extensions_results)
        return data


class HubSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: Any, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return ExtensionsRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        log_errors(errors, execution_context)

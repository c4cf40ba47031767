"""Resolvers the compiled path calls directly, without strawberry's wrapper chain.

strawberry calls a field's resolver through several layers: a resolver closure that
builds a ``strawberry.Info``, the field-extension chain, argument conversion (Python
names, input types), ``get_result`` and ``StrawberryResolver.__call__``. For a field
without field extensions, permission classes or exception handlers, whose arguments
are all of the built-in scalar types (``String``, ``ID``, ``Int``, ``Float``,
``Boolean``, nullable or not: conversion leaves those values as they are), those
layers only rename the arguments and pass ``self``/``root``/``info``. The compiled
path does that itself (:class:`Direct`), with an :class:`LazyInfo` whose
graphql-core ``GraphQLResolveInfo`` (and path) is built only if the resolver reads
more of it than ``info.context``.

The input guard (:mod:`schema.inputs`) stays in front: its check runs first, and a
call it refuses takes the field's full resolver, which answers the refusal as before.
Root mutation and subscription fields keep the full chain (one call per operation).
Which fields are direct is decided once, at schema build (:func:`mark_direct`); a
plan uses it only while the field's resolver is still the one marked.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLObjectType
from strawberry.scalars import ID
from strawberry.types import Info
from strawberry.types.base import StrawberryMaybe, StrawberryOptional

_DIRECT_KEY = "hub-direct"
_PLAIN_ARGS = (str, int, float, bool, ID)
_STRAWBERRY_RESOLVERS = (
    "from_resolver.<locals>._resolver",
    "from_resolver.<locals>._async_resolver",
)


class Direct:
    """How to call one field's resolver function directly."""

    __slots__ = ("field", "func", "guard", "info", "names", "resolve", "root", "self_arg")

    def __init__(
        self,
        resolve: Any,
        func: Any,
        field: Any,
        names: dict[str, str],
        guard: Any,
    ) -> None:
        self.resolve = resolve  # the graphql field's resolve this was made for
        self.func = func
        self.field = field  # the StrawberryField (for the Info)
        self.names = names  # GraphQL argument name -> Python parameter name
        self.guard = guard  # schema.inputs' check of the arguments, or None
        resolver = field.base_resolver
        self.self_arg = resolver.self_parameter is not None
        roots = [p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p]
        self.root: tuple[str, ...] = tuple(roots)
        info = resolver.info_parameter
        self.info: str | None = info.name if info is not None else None

    def kwargs(self, args: dict[str, Any]) -> dict[str, Any]:
        """The resolver's keyword arguments for graphql-core's coerced ``args``."""
        names = self.names
        return {names[k]: v for k, v in args.items()}


class LazyInfo(Info):
    """A ``strawberry.Info`` whose ``GraphQLResolveInfo`` is built on first use."""

    def __init__(self, context: Any, field: Any, make: Any) -> None:
        # No dataclass __init__: _raw_info is a property here.
        self.__dict__["_field"] = field
        self.__dict__["_ctx"] = context
        self.__dict__["_make"] = make

    # override: a dataclass field in Info, computed on first use here.
    @property
    def _raw_info(self) -> Any:  # type: ignore[override]
        d = self.__dict__
        raw = d.get("_raw")
        if raw is None:
            raw = d["_raw"] = d["_make"]()
        return raw

    @property
    def context(self) -> Any:
        return self.__dict__["_ctx"]


def _plain(type_: Any) -> bool:
    if isinstance(type_, StrawberryMaybe):
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    return any(type_ is t for t in _PLAIN_ARGS)


def mark_direct(schema: Any) -> int:
    """Mark the fields of a strawberry ``schema`` whose resolver the compiled path may
    call directly (see the module's docstring). Returns how many."""
    converter = schema.schema_converter
    if getattr(converter, "_exception_handler_specs", ()) or schema.config.info_class is not Info:
        return 0
    gql = schema._schema
    names_of = schema.config.name_converter
    skip = {id(gql.mutation_type), id(gql.subscription_type)}
    n = 0
    for gtype in gql.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        if id(gtype) in skip:
            continue
        definition = gtype.extensions.get("strawberry-definition")
        if definition is None:
            continue
        by_name = {names_of.get_graphql_name(f): f for f in definition.fields}
        for name, field in gtype.fields.items():
            direct = _direct_of(field, by_name.get(name), names_of)
            if direct is not None:
                field.extensions = {**(field.extensions or {}), _DIRECT_KEY: direct}
                n += 1
    return n


def _direct_of(field: Any, sfield: Any, names_of: Any) -> Direct | None:
    if sfield is None or sfield.base_resolver is None:
        return None
    if sfield.extensions or sfield.permission_classes:
        return None
    resolve = field.resolve
    guard = getattr(resolve, "hub_guard", None)
    inner = getattr(resolve, "hub_inner", None) if guard is not None else resolve
    if not getattr(inner, "__qualname__", "").endswith(_STRAWBERRY_RESOLVERS):
        return None
    func = sfield.base_resolver.wrapped_func
    if not callable(func):
        return None
    names: dict[str, str] = {}
    for arg in sfield.arguments:
        if not _plain(arg.type):
            return None
        names[names_of.from_argument(arg)] = arg.python_name
    if set(names) != set(field.args):
        return None
    return Direct(resolve, func, sfield, names, guard)


def direct_of(field: Any) -> Direct | None:
    """The field's direct call, if it has one and its resolver is still that one."""
    ext = field.extensions
    direct = ext.get(_DIRECT_KEY) if ext else None
    if direct is None or direct.resolve is not field.resolve:
        return None
    return direct


__all__ = ["Direct", "LazyInfo", "direct_of", "mark_direct"]

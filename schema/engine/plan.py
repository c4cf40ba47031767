"""Plans: what executing an operation means, decided once per (operation, skip/include).

A plan is built from graphql-core's own field collection (``collect_fields`` and
``collect_subfields``), so which fields run, under which response keys and in which
order is exactly what graphql-core's executor would do. Each selection on an object
type becomes an :class:`ObjectPlan`: a list of :class:`Step` (one per response key),
each with a :class:`Completer` for the field's type (leaf, object, list, abstract),
built recursively. Abstract types (interfaces, unions) get their per-runtime-type plan
on first use.

What a step does:

- ``TYPENAME``: the object type's name, no resolver;
- ``ATTR``: a plain attribute read (a field without resolver, arguments, permission
  classes or field extensions; marked at schema build, see :func:`mark_attribute`);
- ``RESOLVE``: the field's resolver with its coerced arguments (computed once here
  when they are literals of leaf types): the resolver function itself where
  :mod:`schema.engine.direct` allows it (a ``GraphQLResolveInfo`` only if it reads
  one), else graphql-core's ``resolve`` with a real ``GraphQLResolveInfo``.

A leaf completer carries an exact-type fast path: a ``str`` for ``String``/``ID``, an
``int`` in range for ``Int``, a ``bool`` for ``Boolean``, a finite ``float`` for
``Float``, a member of the enum's Python class for an enum; anything else goes through
the type's own ``coerce_output_value``, so values and errors are graphql-core's.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from graphql import (
    FieldNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLString,
    GraphQLUnionType,
    ListValueNode,
    ObjectValueNode,
    VariableNode,
)
from graphql.execution.collect_fields import collect_subfields
from graphql.execution.values import get_argument_values
from graphql.pyutils import Undefined, inspect

from schema.engine.direct import Direct, direct_of

TYPENAME, ATTR, RESOLVE = 0, 1, 2
LEAF, OBJECT, LIST, ABSTRACT = 0, 1, 2, 3

_ATTR_KEY = "hub-attribute"


class NotCompiled(Exception):
    """This operation takes the standard executor (see :mod:`schema.engine`)."""


def mark_attribute(field: GraphQLField, attr: str) -> None:
    """Declare that ``field`` resolves as ``getattr(source, attr)`` and nothing else."""
    field.extensions = {**(field.extensions or {}), _ATTR_KEY: attr}


def attribute_of(field: GraphQLField) -> str | None:
    ext = field.extensions
    return ext.get(_ATTR_KEY) if ext else None


# --------------------------------------------------------------------------- leaves

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _int_fast(value: Any) -> bool:
    return _INT_MIN <= value <= _INT_MAX


def _float_fast(value: Any) -> bool:
    return math.isfinite(value)


class Completer:
    """How to complete a value of one output type (nullable or not)."""

    __slots__ = (
        "abstract",
        "check",
        "coerce",
        "enum_cls",
        "enum_names",
        "fast",
        "fast_check",
        "fast_str",
        "gtype",
        "is_type_of",
        "item",
        "kind",
        "nonnull",
        "plan",
        "plans",
        "record",
        "type_info",
    )

    def __init__(self, kind: int, nonnull: bool, gtype: Any) -> None:
        self.kind = kind
        self.nonnull = nonnull
        self.gtype = gtype
        self.fast: type | None = None  # exact type returned as is
        self.fast_check: Any = None  # extra check for the fast type (Int range)
        self.fast_str: bool = False  # ID: an int is returned as str(value)
        self.enum_cls: type | None = None  # a strawberry enum's Python class
        self.enum_names: dict[Any, str] | None = None
        self.coerce: Any = None
        self.item: Completer | None = None
        self.plan: ObjectPlan | None = None
        self.plans: dict[str, ObjectPlan] = {}
        self.is_type_of: Any = None
        self.type_info = False  # is_type_of wants a resolve info
        # is_type_of is isinstance(value, record) (schema.relay.is_record): inlined.
        self.record: type | None = None
        self.abstract: Any = None
        self.check: Any = None

    def leaf(self, value: Any) -> Any:
        """A leaf's output value (not None), graphql-core's ``complete_leaf_value``."""
        fast = self.fast
        if type(value) is fast:
            check = self.fast_check
            if check is None or check(value):
                return value
        if type(value) is self.enum_cls:
            # union-attr: enum_names is set whenever enum_cls is (_leaf_completer).
            name = self.enum_names.get(value)  # type: ignore[union-attr]
            if name is not None:
                return name
        if self.fast_str and type(value) is int:
            return str(value)
        if isinstance(value, Exception):
            raise value
        coerced = self.coerce(value)
        if coerced is Undefined or coerced is None:
            msg = (
                f"Expected `{inspect(self.gtype)}.coerce_output_value("
                f"{inspect(value)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
            raise TypeError(msg)
        return coerced


def _leaf_completer(gtype: Any, nonnull: bool) -> Completer:
    c = Completer(LEAF, nonnull, gtype)
    c.coerce = gtype.coerce_output_value
    if isinstance(gtype, GraphQLScalarType):
        std = {
            id(GraphQLString.coerce_output_value): (str, None),
            id(GraphQLID.coerce_output_value): (str, None),
            id(GraphQLBoolean.coerce_output_value): (bool, None),
            id(GraphQLInt.coerce_output_value): (int, _int_fast),
            id(GraphQLFloat.coerce_output_value): (float, _float_fast),
        }.get(id(gtype.coerce_output_value))
        if std is not None:
            c.fast, c.fast_check = std
            c.fast_str = gtype.coerce_output_value is GraphQLID.coerce_output_value
    elif isinstance(gtype, GraphQLEnumType):
        wrapped = getattr(gtype, "wrapped_cls", None)
        if wrapped is not None:
            names: dict[Any, str] = {}
            for member in wrapped:
                try:
                    names[member] = gtype.coerce_output_value(member)
                except (GraphQLError, ValueError):
                    pass
            c.enum_cls, c.enum_names = wrapped, names
    return c


# --------------------------------------------------------------------------- steps


class Step:
    """One response key of an object plan."""

    __slots__ = (
        "args",
        "attr",
        "completer",
        "details",
        "direct",
        "direct_kwargs",
        "field_def",
        "key",
        "kind",
        "name",
        "nodes",
        "nonnull",
        "parent_name",
        "parent_type",
        "resolve",
    )

    def __init__(self, key: str, details: list[Any], parent_type: GraphQLObjectType) -> None:
        self.key = key
        self.details = details
        self.nodes: list[FieldNode] = [d.node for d in details]
        self.name = self.nodes[0].name.value
        self.parent_type = parent_type
        self.parent_name = parent_type.name
        self.kind = TYPENAME
        self.attr: str | None = None
        self.resolve: Any = None
        self.field_def: GraphQLField | None = None
        self.completer: Completer | None = None
        self.nonnull = False
        # None: no arguments; a dict: literal arguments coerced once; False: per call.
        # The arguments when they are literals (False: coerced per call), None: no resolver.
        self.args: dict[str, Any] | Literal[False] | None = None
        # The resolver called directly (schema.engine.direct), and its keyword
        # arguments when they are literals that the input guard accepts.
        self.direct: Direct | None = None
        self.direct_kwargs: dict[str, Any] | None = None


class ObjectPlan:
    __slots__ = ("flat", "gtype", "steps", "type_name")

    def __init__(self, gtype: GraphQLObjectType) -> None:
        self.gtype = gtype
        self.type_name = gtype.name
        self.steps: list[Step] = []
        # When every step is an attribute read of a leaf (or __typename): (key,
        # attribute or None for __typename, completer) per step, for a tighter loop.
        self.flat: list[tuple[str, str | None, Completer | None]] | None = None

    def seal(self) -> ObjectPlan:
        flat: list[tuple[str, str | None, Completer | None]] = []
        for step in self.steps:
            if step.kind == TYPENAME:
                flat.append((step.key, None, None))
            elif step.kind == ATTR and step.completer is not None and step.completer.kind == LEAF:
                flat.append((step.key, step.attr, step.completer))
            else:
                return self
        self.flat = flat
        return self


class Compiler:
    """Builds the plans of one operation for one set of skip/include values, with
    graphql-core's field collection and the executor's variables and fragments."""

    def __init__(self, executor: Any) -> None:
        self.ex = executor
        self.schema = executor.schema

    def object_plan(self, otype: GraphQLObjectType, grouped: dict[str, list[Any]]) -> ObjectPlan:
        plan = ObjectPlan(otype)
        for key, details in grouped.items():
            for d in details:
                if d.defer_usage is not None or d.fragment_variable_values is not None:
                    raise NotCompiled("@defer or fragment variables")
            step = Step(key, details, otype)
            if step.name == "__typename":
                plan.steps.append(step)
                continue
            field_def = otype.fields.get(step.name)
            if field_def is None:
                if step.name.startswith("__"):
                    raise NotCompiled("introspection")
                continue  # graphql-core leaves unknown fields out (validation refuses them)
            step.field_def = field_def
            step.nonnull = isinstance(field_def.type, GraphQLNonNull)
            attr = attribute_of(field_def)
            node = step.nodes[0]
            if attr is not None and not node.arguments and not field_def.args:
                step.kind = ATTR
                step.attr = attr
            else:
                step.kind = RESOLVE
                step.resolve = field_def.resolve or self.ex.field_resolver
                step.args = self._literal_args(field_def, node)
                direct = direct_of(field_def)
                if direct is not None and isinstance(step.args, dict):
                    if direct.guard is not None and direct.guard.problems(step.args):
                        direct = None  # the full resolver answers the refusal
                    else:
                        step.direct_kwargs = direct.kwargs(step.args)
                step.direct = direct
            step.completer = self.completer(field_def.type, details)
            plan.steps.append(step)
        return plan.seal()

    def _literal_args(
        self, field_def: GraphQLField, node: FieldNode
    ) -> dict[str, Any] | Literal[False]:
        if not field_def.args and not node.arguments:
            return {}
        for arg in node.arguments or ():
            if not _static(arg.value):
                return False
        try:
            return get_argument_values(
                field_def, node, self.ex.variable_values, None, self.ex.hide_suggestions
            )
        except GraphQLError:
            return False  # raised again at run time, as a field error

    def completer(self, gtype: Any, details: list[Any]) -> Completer:
        nonnull = isinstance(gtype, GraphQLNonNull)
        if nonnull:
            gtype = gtype.of_type
        if isinstance(gtype, GraphQLList):
            c = Completer(LIST, nonnull, gtype)
            c.item = self.completer(gtype.of_type, details)
            return c
        if isinstance(gtype, GraphQLObjectType):
            c = Completer(OBJECT, nonnull, gtype)
            c.is_type_of = gtype.is_type_of
            c.type_info = c.is_type_of is not None and _wants_info(c.is_type_of)
            c.record = getattr(c.is_type_of, "hub_record", None)
            c.plan = self.sub_plan(gtype, details)
            return c
        if isinstance(gtype, GraphQLInterfaceType | GraphQLUnionType):
            c = Completer(ABSTRACT, nonnull, gtype)
            c.abstract = gtype
            return c
        return _leaf_completer(gtype, nonnull)

    def sub_plan(self, otype: GraphQLObjectType, details: list[Any]) -> ObjectPlan:
        ex = self.ex
        grouped, new_defers, _ = collect_subfields(
            self.schema,
            ex.fragments,
            ex.variable_values,
            ex.operation,
            otype,
            details,
            ex.hide_suggestions,
        )
        if new_defers:
            raise NotCompiled("@defer")
        return self.object_plan(otype, grouped)


def _static(value: Any) -> bool:
    """A literal argument value of a leaf type (no variables, lists or objects)."""
    return not isinstance(value, VariableNode | ListValueNode | ObjectValueNode)


def _wants_info(fn: Any) -> bool:
    """Whether an ``is_type_of`` reads its info argument: the hub's and strawberry's
    name it ``_info`` (unused), so those get None instead of a built info."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return True
    names = code.co_varnames[: code.co_argcount]
    if getattr(fn, "__self__", None) is not None:
        names = names[1:]  # a classmethod's cls
    return len(names) < 2 or not names[1].startswith("_")

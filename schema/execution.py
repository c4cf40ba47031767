"""A faster path through graphql-core's executor for plain fields.

graphql-core resolves every field the same way: build a resolve info, coerce
arguments, call the resolver, check for awaitables, complete the value. On a listing
page (~1,600 fields) that machinery is most of the time. Fields marked at schema
build as plain (their resolver only reads an attribute, no arguments) skip it:

- a leaf (scalar or enum) is read and serialised in place;
- an object, or a list of objects, whose selected subfields are all plain (leaves or
  such objects, e.g. a page of variants with their money and options) is built from a
  per-request plan, checking `is_type_of` where the type has one.

Anything irregular (a null in a non-null field, a value a scalar refuses, a subfield
that isn't plain) goes through graphql-core's full path instead. That path only
re-reads attributes, so results and errors are exactly graphql-core's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# id(GraphQLField) -> (attribute, serialize, non_null) for plain leaves.
_LEAF: dict[int, tuple[str, Callable[[Any], Any], bool]] = {}
# id(GraphQLField) -> (attribute, object type, non_null, is_list, items_non_null).
_OBJECT: dict[int, tuple[str, GraphQLObjectType, bool, bool, bool]] = {}


class _Fallback(Exception):
    pass


def mark_fast_fields(gql: GraphQLSchema, attrs: dict[int, str]) -> int:
    """Register the plain fields (see module doc); returns how many."""
    n = 0
    for gtype in gql.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for field in gtype.fields.values():
            attr = attrs.get(id(field))
            if attr is None or field.args:
                continue
            t = field.type
            non_null = isinstance(t, GraphQLNonNull)
            inner = t.of_type if non_null else t
            if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
                _LEAF[id(field)] = (attr, inner.serialize, non_null)
                n += 1
                continue
            is_list = isinstance(inner, GraphQLList)
            items_non_null = False
            if is_list:
                inner = inner.of_type
                items_non_null = isinstance(inner, GraphQLNonNull)
                inner = inner.of_type if items_non_null else inner
            if isinstance(inner, GraphQLObjectType):
                _OBJECT[id(field)] = (attr, inner, non_null, is_list, items_non_null)
                n += 1
    return n


class HubExecutionContext(StrawberryGraphQLCoreExecutionContext):
    _hub_plans: dict[tuple[int, int], Any]

    def execute_fields(
        self,
        parent_type,
        source_value,
        path,
        grouped_field_set,  # type: ignore[no-untyped-def,override]
        position_context,
    ):
        fields = parent_type.fields
        for details in grouped_field_set.values():
            node = details[0].node
            fd = fields.get(node.name.value)
            if fd is None or node.arguments or id(fd) not in _LEAF:
                break
        else:
            # Every field here is a plain leaf: no awaitables, no paths needed.
            out: dict[str, Any] = {}
            try:
                for name, details in grouped_field_set.items():
                    out[name] = _leaf(_LEAF[id(fields[details[0].node.name.value])], source_value)
                return out
            except _Fallback:
                pass
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    def execute_field(
        self,
        parent_type,
        source,
        field_details_list,
        path,  # type: ignore[no-untyped-def,override]
        position_context,
    ):
        node = field_details_list[0].node
        fd = parent_type.fields.get(node.name.value)
        if fd is not None and not node.arguments:
            key = id(fd)
            try:
                leaf = _LEAF.get(key)
                if leaf is not None:
                    return _leaf(leaf, source)
                obj = _OBJECT.get(key)
                if obj is not None:
                    return self._plain_object(obj, field_details_list, source)
            except _Fallback:
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _plan(self, otype: GraphQLObjectType, field_details_list: Any) -> Any:
        """How to build `otype` for this selection from plain reads, or None."""
        try:
            plans = self._hub_plans
        except AttributeError:
            plans = self._hub_plans = {}
        key = (id(otype), id(field_details_list))
        hit = plans.get(key)
        if hit is not None:
            return hit[1]
        plans[key] = (field_details_list, None)  # guards recursive selections
        grouped = self.collect_subfields(otype, field_details_list)[0]
        plan: list[tuple[str, Any]] | None = []
        for name, details in grouped.items():
            node = details[0].node
            if node.name.value == "__typename":
                plan.append((name, otype.name))  # type: ignore[union-attr]
                continue
            fd = otype.fields.get(node.name.value)
            if fd is None or node.arguments:
                plan = None
                break
            leaf = _LEAF.get(id(fd))
            if leaf is not None:
                plan.append((name, leaf))  # type: ignore[union-attr]
                continue
            obj = _OBJECT.get(id(fd))
            sub = self._plan(obj[1], details) if obj is not None else None
            if sub is None:
                plan = None
                break
            plan.append((name, (obj, sub)))  # type: ignore[union-attr]
        plans[key] = (field_details_list, plan)  # keep the list alive with its id
        return plan

    def _plain_object(self, obj: tuple, field_details_list: Any, source: Any) -> Any:
        plan = self._plan(obj[1], field_details_list)
        if plan is None:
            raise _Fallback
        return _object_value(obj, plan, getattr(source, obj[0]))


def _object_value(obj: tuple, plan: list[tuple[str, Any]], value: Any) -> Any:
    _, otype, non_null, is_list, items_non_null = obj
    if value is None:
        if non_null:
            raise _Fallback
        return None
    check = otype.is_type_of
    if not is_list:
        if check is not None and not check(value, None):
            raise _Fallback
        return _build(plan, value)
    out = []
    for item in value:
        if item is None:
            if items_non_null:
                raise _Fallback
            out.append(None)
        else:
            if check is not None and not check(item, None):
                raise _Fallback
            out.append(_build(plan, item))
    return out


def _leaf(leaf: tuple[str, Callable[[Any], Any], bool], source: Any) -> Any:
    try:
        value = getattr(source, leaf[0])
        if value is not None:
            return leaf[1](value)
    except Exception:
        raise _Fallback from None
    if leaf[2]:
        raise _Fallback
    return None


def _build(plan: list[tuple[str, Any]], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, step in plan:
        if step.__class__ is str:
            out[name] = step
        elif len(step) == 3:
            out[name] = _leaf(step, value)
        else:
            obj, sub = step
            out[name] = _object_value(obj, sub, getattr(value, obj[0]))
    return out


__all__ = ["HubExecutionContext", "Path", "mark_fast_fields"]

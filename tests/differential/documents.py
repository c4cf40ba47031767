"""Generated documents for the differential tests.

``hypothesis-graphql`` draws a valid query for a schema (random fields and
arguments); :func:`reshape` then rewrites it the way real clients write documents:
aliases (fresh ones, and the same field twice under one key, which merges), inline
fragments with and without a type condition, named fragments, and ``@skip`` /
``@include`` on literals and on Boolean variables declared by the operation, and
literal arguments of built-in scalar and enum types sent as variables. The
document returned is the printed query and the variable values to send with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from graphql import (
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    IntValueNode,
    ListTypeNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableDefinitionNode,
    VariableNode,
    get_named_type,
    print_ast,
)
from hypothesis import strategies as st


@dataclass
class _Shaping:
    draw: Any
    schema: GraphQLSchema
    fragments: list[FragmentDefinitionNode] = field(default_factory=list)
    variables: dict[str, bool] = field(default_factory=dict)
    # Arguments turned into variables: name -> (argument type, JSON value).
    arguments: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    aliases: int = 0


def _directive(sh: _Shaping) -> DirectiveNode:
    name = sh.draw(st.sampled_from(["skip", "include"]))
    if sh.draw(st.booleans()):
        var = f"v{len(sh.variables)}"
        sh.variables[var] = sh.draw(st.booleans())
        value: Any = VariableNode(name=NameNode(value=var))
    else:
        value = BooleanValueNode(value=sh.draw(st.booleans()))
    from graphql import ArgumentNode

    return DirectiveNode(
        name=NameNode(value=name), arguments=(ArgumentNode(name=NameNode(value="if"), value=value),)
    )


def _shape(sh: _Shaping, sel_set: SelectionSetNode | None, parent: Any) -> Any:
    """The selection set rewritten (graphql-core's nodes are frozen: new nodes)."""
    if sel_set is None:
        return None
    out: list[Any] = []
    for sel in sel_set.selections:
        if not isinstance(sel, FieldNode):
            out.append(sel)
            continue
        child_type = None
        fields = getattr(parent, "fields", None)
        if fields is not None and sel.name.value in fields:
            child_type = get_named_type(fields[sel.name.value].type)
            if sel.arguments and sh.draw(st.booleans()):
                sel = _arguments_as_variables(sh, sel, fields[sel.name.value])
        sel = replace(sel, selection_set=_shape(sh, sel.selection_set, child_type))
        choice = sh.draw(st.integers(0, 7))
        if choice == 1 and sel.alias is None:
            sh.aliases += 1
            out.append(replace(sel, alias=NameNode(value=f"a{sh.aliases}")))
        elif choice == 2:
            out.extend([sel, sel])  # the same field twice: one response key
        elif choice == 3:
            cond = (
                NamedTypeNode(name=NameNode(value=parent.name))
                if parent is not None and sh.draw(st.booleans())
                else None
            )
            out.append(
                InlineFragmentNode(
                    type_condition=cond,
                    directives=(_directive(sh),) if sh.draw(st.booleans()) else (),
                    selection_set=SelectionSetNode(selections=(sel,)),
                )
            )
        elif choice == 4:
            out.append(replace(sel, directives=(_directive(sh),)))
        elif choice == 5 and parent is not None:
            name = f"F{len(sh.fragments)}"
            sh.fragments.append(
                FragmentDefinitionNode(
                    name=NameNode(value=name),
                    type_condition=NamedTypeNode(name=NameNode(value=parent.name)),
                    selection_set=SelectionSetNode(selections=(sel,)),
                    directives=(),
                    variable_definitions=(),
                )
            )
            out.append(FragmentSpreadNode(name=NameNode(value=name), directives=()))
        else:
            out.append(sel)
    return SelectionSetNode(selections=tuple(out))


_NOT_PLAIN = object()


def _json_literal(node: Any, gtype: Any) -> Any:
    """The JSON value of a literal of a built-in scalar or an enum, else _NOT_PLAIN."""
    nullable = not isinstance(gtype, GraphQLNonNull)
    named = gtype.of_type if not nullable else gtype
    if isinstance(node, NullValueNode):
        return None if nullable else _NOT_PLAIN
    if isinstance(node, IntValueNode) and named is GraphQLInt:
        return int(node.value)
    if isinstance(node, FloatValueNode | IntValueNode) and named is GraphQLFloat:
        return float(node.value)
    if isinstance(node, StringValueNode) and named in (GraphQLString, GraphQLID):
        return node.value
    if isinstance(node, BooleanValueNode) and named is GraphQLBoolean:
        return node.value
    if isinstance(node, EnumValueNode) and isinstance(named, GraphQLEnumType):
        return node.value
    return _NOT_PLAIN


def _type_node(gtype: Any) -> Any:
    if isinstance(gtype, GraphQLNonNull):
        return NonNullTypeNode(type=_type_node(gtype.of_type))
    if isinstance(gtype, GraphQLList):
        return ListTypeNode(type=_type_node(gtype.of_type))
    return NamedTypeNode(name=NameNode(value=gtype.name))


def _arguments_as_variables(sh: _Shaping, sel: FieldNode, fdef: Any) -> FieldNode:
    """Some of the field's literal arguments sent as variables instead."""
    args = []
    for arg in sel.arguments:
        adef = fdef.args.get(arg.name.value)
        value = _json_literal(arg.value, adef.type) if adef is not None else _NOT_PLAIN
        if value is _NOT_PLAIN or not sh.draw(st.booleans()):
            args.append(arg)
            continue
        var = f"x{len(sh.arguments)}"
        sh.arguments[var] = (adef.type, value)
        args.append(replace(arg, value=VariableNode(name=NameNode(value=var))))
    return replace(sel, arguments=tuple(args))


def reshape(draw: Any, schema: GraphQLSchema, doc: DocumentNode) -> tuple[str, dict[str, Any]]:
    """The document rewritten with aliases, fragments and skip/include (see module)."""
    sh = _Shaping(draw, schema)
    definitions: list[Any] = []
    for op in doc.definitions:
        if not isinstance(op, OperationDefinitionNode):
            definitions.append(op)
            continue
        root = schema.get_root_type(op.operation)
        sel_set = _shape(sh, op.selection_set, root)
        var_defs = (
            tuple(op.variable_definitions or ())
            + tuple(
                VariableDefinitionNode(
                    variable=VariableNode(name=NameNode(value=v)),
                    type=NonNullTypeNode(type=NamedTypeNode(name=NameNode(value="Boolean"))),
                    directives=(),
                )
                for v in sh.variables
            )
            + tuple(
                VariableDefinitionNode(
                    variable=VariableNode(name=NameNode(value=v)),
                    type=_type_node(gtype),
                    directives=(),
                )
                for v, (gtype, _) in sh.arguments.items()
            )
        )
        definitions.append(replace(op, selection_set=sel_set, variable_definitions=var_defs))
    out = DocumentNode(definitions=(*definitions, *sh.fragments))
    values: dict[str, Any] = dict(sh.variables)
    values.update({v: value for v, (_, value) in sh.arguments.items()})
    return print_ast(out), values


def documents(schema: GraphQLSchema, **kw: Any) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """Reshaped queries for ``schema`` (keyword arguments go to hypothesis-graphql)."""
    from hypothesis_graphql import queries

    @st.composite
    def build(draw: Any) -> tuple[str, dict[str, Any]]:
        doc = draw(queries(schema, print_ast=lambda d: d, allow_x00=False, **kw))
        return reshape(draw, schema, doc)

    return build()

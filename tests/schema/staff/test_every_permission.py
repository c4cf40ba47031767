"""Every staff field of the schema is refused to a principal without its permission,
on SQLite and PostgreSQL, generated from the schema itself.

The test walks the Mutation and Query root fields; the permission each needs is read
from its ``permission_classes`` (``schema.permissions.needs``). A field without one
must be in PUBLIC (so a new staff field without ``needs`` fails here). For each
permission a field needs, it is called with a key bound to a staff user holding every
permission but that one: ACCESS_DENIED naming the permission, the field null, and no
row added or removed anywhere. Read fields are also called with exactly the
permissions they need: no ACCESS_DENIED then."""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from sqlalchemy import func, select

from hub.auth import PERMISSIONS
from hub.db.models import metadata
from hub.settings import load_settings
from schema import build_schema
from schema.permissions import needed_by
from tests.helpers.client import Hub
from tests.helpers.staff import denied, key_with_roles

# Root fields anyone may call (each checks its own caller: a customer, a cart's holder).
PUBLIC = {
    "Mutation": {
        "cartAttributesUpdate", "cartBuyerIdentityUpdate", "cartCreate", "cartDeliveryUpdate",
        "cartDiscountCodesUpdate", "cartLinesAdd", "cartLinesRemove", "cartLinesUpdate",
        "cartLoyaltyRedeem", "cartNoteUpdate", "checkoutComplete",
        "customerAccessTokenCreate", "customerAccessTokenDelete", "customerAccessTokenRenew",
        "customerActivate", "customerAddressCreate", "customerAddressDelete",
        "customerAddressUpdate", "customerCreate", "customerDataExport",
        "customerDefaultAddressUpdate", "customerRecover", "customerReset", "customerUpdate",
        "returnRequest", "staffAccessTokenCreate", "staffAccessTokenDelete", "staffPinSet",
        "substitutionApprove", "substitutionDecline", "tillSignIn",
    },
    "Query": {
        "cart", "channels", "collection", "collections", "currentChannel", "customer",
        "giftCardBalance", "locations", "loyaltyTiers", "node", "nodes", "order",
        "orderByToken", "orders", "product", "products", "productVariantByBarcode", "staffMe",
    },
}  # fmt: skip

SCALARS = {
    "ID": '"gid://hub/Nothing/999999"',
    "String": '"x"',
    "Int": "1",
    "Float": "1.5",
    "Boolean": "false",
    "Decimal": '"1"',
    "DateTime": '"2026-01-01T00:00:00+00:00"',
    "Date": '"2026-01-01"',
    "JSON": "{}",
}


def _literal(t: Any) -> str:
    """A valid literal of input type ``t`` (required fields only)."""
    if isinstance(t, GraphQLNonNull):
        return _literal(t.of_type)
    if isinstance(t, GraphQLList):
        return f"[{_literal(t.of_type)}]"
    if isinstance(t, GraphQLScalarType):
        return SCALARS[t.name]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    raise AssertionError(f"no literal for {t}")


def _required(f: Any) -> bool:
    from graphql.pyutils import Undefined

    return isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined


def _input(t: Any) -> str:
    if isinstance(t, GraphQLNonNull):
        return _input(t.of_type)
    if isinstance(t, GraphQLList):
        return f"[{_input(t.of_type)}]"
    if isinstance(t, GraphQLInputObjectType):
        parts = [f"{n}: {_input(f.type)}" for n, f in t.fields.items() if _required(f)]
        return "{" + ", ".join(parts) + "}"
    return _literal(t)


def document(op: str, name: str, field: GraphQLField) -> str:
    args = [f"{n}: {_input(a.type)}" for n, a in field.args.items() if _required(a)]
    call = f"{name}({', '.join(args)})" if args else name
    select_ = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    return f"{op} {{ {call}{select_} }}"


def staff_fields() -> list[tuple[str, str, GraphQLField, tuple[str, ...]]]:
    """(root, name, field, permissions) of every gated root field; asserts the rest are
    PUBLIC."""
    schema = build_schema(load_settings())
    found = []
    for root in ("Mutation", "Query"):
        gql_type = schema._schema.type_map[root]
        definition = schema.get_type_by_name(root)
        by_name = {f.graphql_name or schema.config.name_converter.get_graphql_name(f): f
                   for f in definition.fields}  # type: ignore[union-attr]  # fmt: skip
        ungated = set()
        for name, field in gql_type.fields.items():  # type: ignore[union-attr]
            needed = needed_by(by_name[name].permission_classes)
            if needed:
                found.append((root, name, field, needed))
            else:
                ungated.add(name)
        assert ungated == PUBLIC[root], (root, ungated ^ PUBLIC[root])
    return found


async def _row_counts(hub: Hub) -> dict[str, int]:
    async with hub.db.read() as conn:
        return {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in metadata.sorted_tables
        }


async def test_every_staff_field_needs_its_permission(hub: Hub) -> None:
    fields = staff_fields()
    assert len([f for f in fields if f[0] == "Mutation"]) >= 80
    lacking = {
        p: await key_with_roles(hub, [q for q in PERMISSIONS if q != p]) for p in PERMISSIONS
    }
    before = await _row_counts(hub)
    tried = 0
    for root, name, field, needed in fields:
        doc = document("mutation" if root == "Mutation" else "query", name, field)
        for permission in needed:
            res = await hub.gql(doc, token=lacking[permission])
            message = denied(res, name)
            assert permission in message, (name, permission, message)
            tried += 1
    assert tried >= len(fields)
    assert await _row_counts(hub) == before


async def test_read_fields_pass_with_exactly_their_permissions(hub: Hub) -> None:
    for root, name, field, needed in staff_fields():
        if root != "Query":
            continue
        token = await key_with_roles(hub, list(needed))
        res = await hub.gql(document("query", name, field), token=token)
        codes = [e.get("extensions", {}).get("code") for e in res.get("errors", [])]
        assert "ACCESS_DENIED" not in codes, (name, res)

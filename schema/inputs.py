"""The input guard: every argument of every field is checked before its resolver runs.

One pass per field call, over the arguments graphql-core has already coerced, typed
by the schema, so nothing a client sends reaches the domain or the database unchecked:

- text (``String``, ``ID``): no NUL or other control character (tab, line feed and
  carriage return only in free text such as notes and descriptions), and no longer
  than its bound: ``TEXT_BOUNDS`` by schema coordinate, else one line of at most 255
  characters, what a ``String(255)`` column holds. Bounds come from the domain's
  constants or the column itself, so the two never disagree;
- ``Decimal``: a plain decimal string (see ``schema.scalars``), never an exponent,
  NaN or Infinity; range and decimals against the currency are the domain's, which
  knows the currency (``hub.money.parse_amount``);
- ``DateTime``: a moment that exists in UTC (``9999-12-31T23:00:00-05:00`` does not);
- ``JSON``: no NUL or control characters other than tab and line breaks in any
  string or key, at most ``JSON_MAX_DEPTH`` deep.

What the guard refuses changes nothing. A mutation whose payload has ``userErrors``
answers there (``INVALID`` or ``TOO_LONG``, with the field's path from its argument,
``input`` left out as the domain does); any other field fails with a GraphQL error
``extensions.code = BAD_USER_INPUT``. Scope checks still come first: a caller without
the scope gets ``ACCESS_DENIED`` as before, not feedback on its input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    default_field_resolver,
)

from hub.bounds import EMAIL_MAX, LINE, TEXT_MAX, Text, text_problem
from hub.db.models import (
    Channel,
    InventoryMovement,
    Location,
    PriceList,
    Reservation,
    ShippingRate,
    ShippingZone,
    Variant,
)
from hub.db.models.carts import CartDeliveryGroup
from hub.db.models.customers import Customer
from hub.domain import carts as cartsvc
from hub.domain.errors import Code
from hub.domain.paging import MAX_CURSOR
from hub.money import DECIMAL_FORMAT, InvalidDecimal
from schema.errors import ApiCode, ApiError, UserError, UserErrorCode

JSON_MAX_DEPTH = 32


def column(attr: Any, *, multiline: bool = False) -> Text:
    """The bound of a ``String(n)`` model column: its length, one line."""
    return Text(attr.property.columns[0].type.length, multiline)


FREE_TEXT = Text(TEXT_MAX, multiline=True)
CURSOR = Text(MAX_CURSOR)
EMAIL = Text(EMAIL_MAX)
HANDLE = column(Channel.handle)  # every handle column is String(64) but products'

# Schema coordinates (``Type.field`` for input fields, ``Type.field(arg:)`` for
# arguments, ``*(arg:)`` for an argument of any field) whose bound is not the default
# one line of 255 characters. Codes with a fixed form (currencies, countries, phone
# numbers, VAT ids) keep the default: the domain checks their form and says what it is.
TEXT_BOUNDS: dict[str, Text] = {
    "*(after:)": CURSOR,
    "*(before:)": CURSOR,
    # free text
    "ProductInput.description": FREE_TEXT,
    "ProductInput.seoDescription": FREE_TEXT,
    "CollectionInput.description": FREE_TEXT,
    "AttributeValueInput.value": FREE_TEXT,
    "CartInput.note": Text(cartsvc.MAX_NOTE, multiline=True),
    "Mutation.cartNoteUpdate(note:)": Text(cartsvc.MAX_NOTE, multiline=True),
    "AttributeInput.value": Text(cartsvc.MAX_ATTRIBUTE_VALUE, multiline=True),
    "GiftCardIssueInput.note": Text(255, multiline=True),
    # shorter columns
    "ChannelInput.handle": HANDLE,
    "AttributeValueInput.key": Text(128),
    "ProductVariantInput.sku": column(Variant.sku),
    "ProductVariantInput.barcode": column(Variant.barcode),
    "VariantPriceInput.channel": HANDLE,
    "VariantPriceKeyInput.channel": HANDLE,
    "InventoryAdjustInput.reason": column(InventoryMovement.reason),
    "InventorySetOnHandInput.reason": column(InventoryMovement.reason),
    "InventoryQuarantineInput.reason": column(InventoryMovement.reason),
    "InventoryReceiveInput.lotNumber": column(InventoryMovement.lot_number),
    "InventoryReceiveInput.serialNumbers": column(InventoryMovement.serial_number),
    "InventoryMoveInput.serialNumbers": column(InventoryMovement.serial_number),
    "InventoryReceiveInput.reference": column(InventoryMovement.reference),
    "InventoryMoveInput.reference": column(InventoryMovement.reference),
    "InventoryReserveInput.reference": column(Reservation.reference),
    "Mutation.inventoryReservationRelease(token:)": column(Reservation.token),
    "Mutation.inventoryReservationCommit(token:)": column(Reservation.token),
    "LocationInput.handle": column(Location.handle),
    "LocationInput.city": column(Location.city),
    "LocationInput.region": column(Location.region),
    "LocationInput.postalCode": column(Location.postal_code),
    "LocationInput.costPerShipment": Text(64),
    "LocationInput.channels": HANDLE,
    "CustomerInput.email": EMAIL,
    "CustomerInput.customerGroup": column(Customer.customer_group),
    "CustomerInput.segments": Text(64),
    "CustomerInput.loyaltyTier": column(Customer.loyalty_tier),
    "PriceListInput.handle": column(PriceList.handle),
    "PriceListInput.channel": HANDLE,
    "PriceListInput.customerGroup": column(PriceList.customer_group),
    "ShippingZoneInput.handle": column(ShippingZone.handle),
    "ShippingRateInput.handle": column(ShippingRate.handle),
    "Mutation.discountCodeCreate(code:)": Text(64),
    "Mutation.discountCodesGenerate(prefix:)": Text(64),
    "CartInput.discountCodes": Text(64),
    "Mutation.cartDiscountCodesUpdate(discountCodes:)": Text(64),
    "CartBuyerIdentityInput.email": EMAIL,
    "CartDeliveryGroupInput.deliveryOptionHandle": column(CartDeliveryGroup.option_handle),
    "MediaInput.url": Text(2048),
    "MediaInput.alt": Text(512),
}


def text_bound(coordinate: str, arg: str | None = None) -> Text:
    bound = TEXT_BOUNDS.get(coordinate)
    if bound is None and arg is not None:
        bound = TEXT_BOUNDS.get(f"*({arg}:)")
    return bound or LINE


# --------------------------------------------------------------------------- checks

Problems = list[tuple[tuple[str, ...], Code, str]]  # (path, code, message)
Check = Callable[[Any, tuple[str, ...], Problems], None]


def _name(path: tuple[str, ...]) -> str:
    """A field's name for messages: the last part of its path that is not an index."""
    return next((p for p in reversed(path) if not p.isdigit()), "value")


def _text_check(bound: Text) -> Check:
    def check(value: Any, path: tuple[str, ...], out: Problems) -> None:
        if isinstance(value, str):
            found = bound.problem(value, _name(path))
            if found is not None:
                out.append((path, *found))

    return check


def _decimal_check(value: Any, path: tuple[str, ...], out: Problems) -> None:
    if isinstance(value, InvalidDecimal):
        out.append((path, Code.INVALID, f"{_name(path)} is not {DECIMAL_FORMAT}"))


def _datetime_check(value: Any, path: tuple[str, ...], out: Problems) -> None:
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        except (OverflowError, ValueError):
            out.append((path, Code.INVALID, f"{_name(path)} is not a time that exists in UTC"))


def _json_check(value: Any, path: tuple[str, ...], out: Problems) -> None:
    def walk(v: Any, depth: int) -> str | None:
        if depth > JSON_MAX_DEPTH:
            return f"{_name(path)} is nested deeper than {JSON_MAX_DEPTH} levels"
        if isinstance(v, str):
            found = text_problem(v, _name(path), TEXT_MAX, multiline=True)
            return found[1] if found else None
        if isinstance(v, Mapping):
            for k, item in v.items():
                bad = walk(k, depth + 1) or walk(item, depth + 1)
                if bad:
                    return bad
        elif isinstance(v, list | tuple):
            for item in v:
                bad = walk(item, depth + 1)
                if bad:
                    return bad
        return None

    problem = walk(value, 0)
    if problem is not None:
        out.append((path, Code.INVALID, problem))


_SCALAR_CHECKS: dict[str, Check] = {
    "Decimal": _decimal_check,
    "DateTime": _datetime_check,
    "JSON": _json_check,
}


class _Compiler:
    """Builds one check per argument and input type, from the schema (once)."""

    def __init__(self) -> None:
        self._objects: dict[str, Check | None] = {}

    def for_type(self, gtype: Any, coordinate: str, arg: str | None = None) -> Check | None:
        if isinstance(gtype, GraphQLNonNull):
            return self.for_type(gtype.of_type, coordinate, arg)
        if isinstance(gtype, GraphQLList):
            inner = self.for_type(gtype.of_type, coordinate, arg)
            return None if inner is None else _list_check(inner)
        if isinstance(gtype, GraphQLScalarType):
            if gtype.name in ("String", "ID"):
                return _text_check(text_bound(coordinate, arg))
            return _SCALAR_CHECKS.get(gtype.name)
        if isinstance(gtype, GraphQLInputObjectType):
            return self.for_object(gtype)
        return None  # enums, Int, Float, Boolean: graphql-core's own coercion suffices

    def for_object(self, gtype: GraphQLInputObjectType) -> Check | None:
        name = gtype.name
        if name in self._objects:
            found = self._objects[name]
            # A type being compiled refers to itself: check it through the table.
            return found if found is not None else (lambda v, p, o: self._late(name, v, p, o))
        self._objects[name] = None
        parts: list[tuple[str, str, Check]] = []
        for fname, f in gtype.fields.items():
            check = self.for_type(f.type, f"{name}.{fname}")
            if check is not None:
                parts.append((fname, _key(f, fname), check))
        result = _object_check(parts) if parts else None
        self._objects[name] = result
        return result

    def _late(self, name: str, value: Any, path: tuple[str, ...], out: Problems) -> None:
        check = self._objects.get(name)
        if check is not None:
            check(value, path, out)


def _key(f: GraphQLInputField | GraphQLArgument, name: str) -> str:
    return f.out_name or name


def _list_check(inner: Check) -> Check:
    def check(value: Any, path: tuple[str, ...], out: Problems) -> None:
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if item is not None:
                    inner(item, (*path, str(i)), out)

    return check


def _object_check(parts: list[tuple[str, str, Check]]) -> Check:
    def check(value: Any, path: tuple[str, ...], out: Problems) -> None:
        if not isinstance(value, Mapping):
            return
        for fname, key, inner in parts:
            item = value.get(key, Undefined)
            if item is Undefined and key != fname:
                item = value.get(fname, Undefined)
            if item is not None and item is not Undefined:
                inner(item, (*path, fname), out)

    return check


# --------------------------------------------------------------------------- wiring


@dataclass(frozen=True, slots=True)
class _FieldGuard:
    coordinate: str
    args: tuple[tuple[str, str, Check], ...]  # (graphql name, kwargs key, check)
    payload: Callable[[list[UserError]], Any] | None  # a mutation's userErrors answer
    permissions: tuple[Any, ...]

    def problems(self, kwargs: Mapping[str, Any]) -> Problems:
        out: Problems = []
        for name, key, check in self.args:
            value = kwargs.get(key, kwargs.get(name))
            if value is not None:
                check(value, (name,), out)
        return out


def install(schema: GraphQLSchema) -> int:
    """Put the guard in front of every field that takes text, decimals, times or JSON.
    Returns how many fields it guards."""
    compiler = _Compiler()
    guarded = 0
    mutation = schema.mutation_type
    subscription = schema.subscription_type
    for gtype in schema.type_map.values():
        if not isinstance(gtype, GraphQLObjectType) or gtype.name.startswith("__"):
            continue
        for fname, field in gtype.fields.items():
            args = []
            for aname, arg in field.args.items():
                check = compiler.for_type(arg.type, f"{gtype.name}.{fname}({aname}:)", aname)
                if check is not None:
                    args.append((aname, _key(arg, aname), check))
            if not args:
                continue
            guard = _FieldGuard(
                coordinate=f"{gtype.name}.{fname}",
                args=tuple(args),
                payload=_payload_builder(field) if gtype is mutation else None,
                permissions=_permissions(field),
            )
            if gtype is subscription and field.subscribe is not None:
                field.subscribe = _guarded(field.subscribe, guard)
            else:
                field.resolve = _guarded(field.resolve or default_field_resolver, guard)
            guarded += 1
    return guarded


def _guarded(resolve: Callable[..., Any], guard: _FieldGuard) -> Callable[..., Any]:
    def guarded(source: Any, info: Any, **kwargs: Any) -> Any:
        problems = guard.problems(kwargs)
        if not problems:
            return resolve(source, info, **kwargs)
        return _refuse(resolve, guard, problems, source, info, kwargs)

    # attr-defined: graphql-core's marker for a default resolver, set on a function.
    guarded._is_default = getattr(resolve, "_is_default", False)  # type: ignore[attr-defined]
    # attr-defined: what the compiled path (schema.engine.direct) checks and calls itself.
    guarded.hub_guard = guard  # type: ignore[attr-defined]
    guarded.hub_inner = resolve  # type: ignore[attr-defined]
    return guarded


async def _refuse(
    resolve: Callable[..., Any],
    guard: _FieldGuard,
    problems: Problems,
    source: Any,
    info: Any,
    kwargs: dict[str, Any],
) -> Any:
    # Without the scope the field answers ACCESS_DENIED whatever its input: let the
    # resolver's own scope check say so (it refuses before its body runs).
    for permission in guard.permissions:
        allowed = permission().has_permission(source, info, **kwargs)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            result = resolve(source, info, **kwargs)
            return await result if inspect.isawaitable(result) else result
    if guard.payload is not None:
        return guard.payload([_user_error(p) for p in problems])
    _, _, message = problems[0]
    raise ApiError(f"{guard.coordinate}: {message}", ApiCode.BAD_USER_INPUT)


def _user_error(problem: tuple[tuple[str, ...], Code, str]) -> UserError:
    path, code, message = problem
    if len(path) > 1 and path[0] == "input":
        path = path[1:]
    return UserError(field=list(path), message=message, code=UserErrorCode(code))


def _permissions(field: GraphQLField) -> tuple[Any, ...]:
    definition = (field.extensions or {}).get("strawberry-definition")
    return tuple(getattr(definition, "permission_classes", None) or ())


def _payload_builder(field: GraphQLField) -> Callable[[list[UserError]], Any] | None:
    """For a mutation whose payload type has ``userErrors``: a function making that
    payload with only the given userErrors (lists empty, everything else null); None
    when the payload has a field it can't fill that way."""
    gtype = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(gtype, GraphQLObjectType) or "userErrors" not in gtype.fields:
        return None
    definition = gtype.extensions.get("strawberry-definition")
    origin = getattr(definition, "origin", None)
    if definition is None or origin is None:
        return None
    empty: dict[str, Any] = {}
    for sf in definition.fields:
        if sf.python_name == "user_errors":
            continue
        gfield = gtype.fields.get(sf.graphql_name or _camel(sf.python_name))
        if gfield is None or sf.base_resolver is not None:
            return None
        non_null = isinstance(gfield.type, GraphQLNonNull)
        inner = gfield.type.of_type if non_null else gfield.type
        if isinstance(inner, GraphQLList):
            empty[sf.python_name] = []
        elif not non_null:
            empty[sf.python_name] = None
        else:
            return None

    def build(errors: list[UserError]) -> Any:
        obj = object.__new__(origin)
        for name, value in empty.items():
            setattr(obj, name, [] if isinstance(value, list) else value)
        obj.user_errors = errors
        return obj

    return build


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(r[:1].upper() + r[1:] for r in rest)

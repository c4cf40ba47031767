"""Carts on the API: the cart query and the cart mutations.

Resolvers parse input, call one ``hub.domain.carts`` function, then return the cart
as :func:`hub.domain.carts.price_cart` priced it; every money field reads that one
result, so a client never computes a total. A cart's lines resolve their merchandise
through the variant dataloader: the cart's statement count does not grow with lines.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub import ids
from hub.auth import Principal, authenticate
from hub.domain import carts as cartsvc
from hub.domain.errors import Code, DomainError, UserError, fail
from hub.money import Money
from schema.catalog import MoneyType, ProductVariantType
from schema.errors import ApiError, from_domain
from schema.errors import UserError as UserErrorType
from schema.inventory import LocationType
from schema.relay import Connection, Node, connection_from_list, page_request, register_node
from schema.throttle import take


def commerce(info: Info) -> Any:
    return info.context.hub


def _line_pk(gid: str, *path: str) -> int:
    try:
        return ids.decode_pk(gid, "CartLine")
    except ids.InvalidId as exc:
        raise DomainError([UserError(list(path), str(exc), str(Code.INVALID))]) from None


def _variant_pk(gid: str, *path: str) -> int:
    try:
        return ids.decode_pk(gid, "ProductVariant")
    except ids.InvalidId as exc:
        raise DomainError([UserError(list(path), str(exc), str(Code.INVALID))]) from None


async def _count_codes(info: Info, codes: list[str] | None) -> None:
    """Every discount code entered counts against the client's guessing limit."""
    limit = info.context.settings.rate_limit_discount_codes
    await take(info, "discount", limit, len(codes or ()), what="discount codes entered")


def _token(gid: str) -> str:
    token = cartsvc.parse_cart_id(gid)
    if token is None:
        raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
    return token


# --------------------------------------------------------------------------- types


@strawberry.type(name="CartAttribute", description="A key/value note on a cart or line.")
class CartAttributeType:
    key: str
    value: str


@strawberry.type
class CartWarning:
    code: str = strawberry.field(
        description="MERCHANDISE_NOT_ENOUGH_STOCK, MERCHANDISE_OUT_OF_STOCK, "
        "MERCHANDISE_NOT_AVAILABLE, MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION or "
        "DELIVERY_OPTION_UNAVAILABLE."
    )
    message: str
    target: strawberry.ID | None = strawberry.field(
        description="The line (or variant, or delivery group) concerned."
    )

    @strawberry.field(
        description="Where the line could be had instead, nearest first: for "
        "MERCHANDISE_NOT_AVAILABLE_AT_PICKUP_LOCATION, the nearest pickup locations "
        "(from the chosen one's coordinates) that have all of it. Empty otherwise."
    )
    async def locations(self, info: Info) -> list[LocationType]:
        pks = self.locations  # type: ignore[attr-defined]
        if not pks:
            return []
        got = await info.context.loaders.location_by_id.load_many(pks)
        return [loc for loc in got if loc is not None]


@strawberry.type
class CartLineDiscountAllocation:
    title: str
    code: str | None
    discounted_amount: MoneyType


@strawberry.type
class CartLineCost:
    amount_per_quantity: MoneyType
    compare_at_amount_per_quantity: MoneyType | None
    subtotal_amount: MoneyType = strawberry.field(description="Quantity x unit price.")
    total_amount: MoneyType = strawberry.field(description="After the line's discounts.")
    total_tax_amount: MoneyType


class _LineCost:
    __slots__ = (
        "amount_per_quantity",
        "compare_at_amount_per_quantity",
        "subtotal_amount",
        "total_amount",
        "total_tax_amount",
    )

    def __init__(self, ln: cartsvc.PricedLine, currency: str) -> None:
        self.amount_per_quantity = Money(ln.unit_price, currency)
        self.compare_at_amount_per_quantity = (
            Money(ln.compare_at, currency) if ln.compare_at is not None else None
        )
        self.subtotal_amount = Money(ln.subtotal, currency)
        self.total_amount = Money(ln.total, currency)
        self.total_tax_amount = Money(ln.tax, currency)


class _Alloc:
    __slots__ = ("code", "discounted_amount", "title")

    def __init__(self, title: str, code: str | None, amount: Money) -> None:
        self.title = title
        self.code = code
        self.discounted_amount = amount


@strawberry.type(name="CartLine")
class CartLineType:
    quantity: int

    @strawberry.field(
        description="The variant's SKU; empty once its product is no longer published."
    )
    def sku(self) -> str:
        return self.sku if self.published else ""  # type: ignore[attr-defined,return-value]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return self.id  # type: ignore[return-value]

    @strawberry.field(
        description="What is bought: a product variant, priced in the cart's channel "
        "(whatever the request's), so its price is the one the cart charges."
    )
    async def merchandise(self, info: Info) -> ProductVariantType | None:
        await info.context.channel(info)
        loader = info.context.loaders.variant_in_channel(self.channel)  # type: ignore[attr-defined]
        return await loader.load(self.variant_pk)  # type: ignore[attr-defined]

    @strawberry.field
    def attributes(self) -> list[CartAttributeType]:
        return [CartAttributeType(key=a["key"], value=a["value"]) for a in self.attributes]  # type: ignore[attr-defined]

    @strawberry.field
    def cost(self, info: Info) -> CartLineCost:
        return _LineCost(self, self.currency)  # type: ignore[arg-type,attr-defined,return-value]

    @strawberry.field
    def discount_allocations(self) -> list[CartLineDiscountAllocation]:
        cur = self.currency  # type: ignore[attr-defined]
        return [_Alloc(t, c, Money(a, cur)) for _p, t, c, a in self.allocations]  # type: ignore[attr-defined,misc]

    @strawberry.field(description="False when the variant is no longer sold in the channel.")
    def sellable(self) -> bool:
        return self.sellable  # type: ignore[return-value]


@strawberry.type
class CartCost:
    subtotal_amount: MoneyType = strawberry.field(description="Lines before discounts.")
    total_discount_amount: MoneyType = strawberry.field(
        description="Every discount: on lines, on the order and on shipping."
    )
    total_shipping_amount: MoneyType = strawberry.field(
        description="Shipping of the selected options, before shipping discounts."
    )
    total_tax_amount: MoneyType = strawberry.field(
        description="Tax: included in the prices in a tax-inclusive channel, else added."
    )
    total_amount: MoneyType = strawberry.field(
        description="subtotal - discounts + shipping (+ tax when not included)."
    )
    taxes_included: bool


class _Cost:
    __slots__ = (
        "subtotal_amount",
        "taxes_included",
        "total_amount",
        "total_discount_amount",
        "total_shipping_amount",
        "total_tax_amount",
    )

    def __init__(self, p: cartsvc.PricedCart) -> None:
        c = p.currency
        self.subtotal_amount = Money(p.subtotal, c)
        self.total_discount_amount = Money(p.discount_total, c)
        self.total_shipping_amount = Money(p.shipping, c)
        self.total_tax_amount = Money(p.tax, c)
        self.total_amount = Money(p.total, c)
        self.taxes_included = p.taxes_included


@strawberry.type
class CartDiscountCode:
    code: str
    applicable: bool
    reason: str | None = strawberry.field(
        description="Why not applicable: UNKNOWN_CODE, EXPIRED, MIN_SUBTOTAL_NOT_MET, ..."
    )


@strawberry.type
class CartDiscountAllocationLine:
    line_id: strawberry.ID
    amount: MoneyType


@strawberry.type
class CartDiscountAllocation:
    promotion_id: strawberry.ID
    title: str
    code: str | None
    discount_class: str = strawberry.field(description="PRODUCT, ORDER or SHIPPING.")
    discounted_amount: MoneyType
    shipping_amount: MoneyType
    lines: list[CartDiscountAllocationLine]


@strawberry.type
class CartBuyerIdentity:
    email: str | None
    phone: str | None
    country_code: str | None
    customer_id: strawberry.ID | None


@strawberry.type
class CartDeliveryOption:
    handle: str
    title: str
    estimated_cost: MoneyType
    min_days: int | None
    max_days: int | None


class _Option:
    __slots__ = ("estimated_cost", "handle", "max_days", "min_days", "title")

    def __init__(self, o: cartsvc.DeliveryOption) -> None:
        self.handle = o.handle
        self.title = o.title
        self.estimated_cost = Money(o.amount, o.currency)
        self.min_days = o.min_days
        self.max_days = o.max_days


@strawberry.enum
class CartStatus(Enum):
    ACTIVE = "ACTIVE"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"


@strawberry.enum
class CartDeliveryType(Enum):
    SHIPPING = "SHIPPING"
    PICKUP = "PICKUP"


@strawberry.type
class CartDeliveryGroup:
    id: strawberry.ID
    delivery_type: CartDeliveryType
    address: JSON | None = strawberry.field(description="The ship-to address, when given.")
    line_ids: list[strawberry.ID]
    delivery_options: list[CartDeliveryOption]
    selected_delivery_option: CartDeliveryOption | None
    shipping_amount: MoneyType
    shipping_discount_amount: MoneyType
    total_tax_amount: MoneyType

    @strawberry.field
    async def pickup_location(self, info: Info) -> LocationType | None:
        pk = self._location_pk  # type: ignore[attr-defined]
        if pk is None:
            return None
        return await info.context.loaders.location_by_id.load(pk)


class _Group:
    def __init__(self, g: cartsvc.PricedGroup, currency: str) -> None:
        self.id = g.id
        self.delivery_type = CartDeliveryType(g.kind)
        self.address = g.address
        self.line_ids = [ln.id for ln in g.lines]
        self.delivery_options = [_Option(o) for o in g.options]
        self.selected_delivery_option = _Option(g.selected) if g.selected else None
        self.shipping_amount = Money(g.shipping, currency)
        self.shipping_discount_amount = Money(g.shipping_discount, currency)
        self.total_tax_amount = Money(g.tax, currency)
        self._location_pk = g.location_pk


@strawberry.type(name="Cart", description="A server-side cart; its id is unguessable.")
class CartType(Node):
    @strawberry.field
    def id(self) -> strawberry.ID:
        return self.id  # type: ignore[return-value]

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, cartsvc.PricedCart)

    @strawberry.field(description="ACTIVE, COMPLETING (in checkout) or COMPLETED.")
    def status(self) -> CartStatus:
        return CartStatus(self.cart.status)  # type: ignore[attr-defined]

    @strawberry.field
    def created_at(self) -> datetime:
        return self.cart.created_at  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.cart.updated_at  # type: ignore[attr-defined,no-any-return]

    @strawberry.field(description="When the cart expires unless it changes again.")
    def expires_at(self) -> datetime:
        return self.cart.expires_at  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    def total_quantity(self) -> int:
        return self.total_quantity  # type: ignore[return-value]

    @strawberry.field
    def currency_code(self) -> str:
        return self.currency  # type: ignore[attr-defined,no-any-return]

    @strawberry.field
    def lines(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[CartLineType]:
        page = page_request(first, after, last, before, info.context.settings.max_page_size)
        return connection_from_list(self.lines, page, "CartLine", key=lambda ln: ln.pk)  # type: ignore[arg-type,return-value]

    @strawberry.field
    def cost(self) -> CartCost:
        return _Cost(self)  # type: ignore[arg-type,return-value]

    @strawberry.field
    def discount_codes(self) -> list[CartDiscountCode]:
        return [
            CartDiscountCode(code=c.code, applicable=c.applicable, reason=c.reason)
            for c in self.codes
        ]  # type: ignore[attr-defined]

    @strawberry.field(description="Each applied promotion, the lines it touched and how much.")
    def discount_allocations(self) -> list[CartDiscountAllocation]:
        cur = self.currency  # type: ignore[attr-defined]
        return [
            CartDiscountAllocation(
                promotion_id=ids.encode("Promotion", a.promotion_id),  # type: ignore[arg-type]
                title=a.title,
                code=a.code,
                discount_class=a.klass,
                discounted_amount=Money(a.amount, cur),  # type: ignore[arg-type]
                shipping_amount=Money(a.shipping_amount, cur),  # type: ignore[arg-type]
                lines=[
                    CartDiscountAllocationLine(line_id=lid, amount=Money(amt, cur))  # type: ignore[arg-type]
                    for lid, amt in a.lines
                ],
            )
            for a in self.allocations  # type: ignore[attr-defined]
        ]

    @strawberry.field
    def buyer_identity(self) -> CartBuyerIdentity:
        c = self.cart  # type: ignore[attr-defined]
        return CartBuyerIdentity(
            email=c.email,
            phone=c.phone,
            country_code=c.country_code,
            customer_id=ids.encode("Customer", c.customer_id) if c.customer_id else None,  # type: ignore[arg-type]
        )

    @strawberry.field
    def attributes(self) -> list[CartAttributeType]:
        return [
            CartAttributeType(key=a["key"], value=a["value"]) for a in self.cart.attributes or ()
        ]  # type: ignore[attr-defined]

    @strawberry.field
    def note(self) -> str | None:
        return self.cart.note  # type: ignore[attr-defined,no-any-return]

    @strawberry.field(description="How the lines reach the buyer: shipped or picked up, per group.")
    def delivery_groups(self) -> list[CartDeliveryGroup]:
        return [_Group(g, self.currency) for g in self.groups]  # type: ignore[attr-defined,misc]

    @strawberry.field(description="What changed or can't be honoured (e.g. stock ran short).")
    def warnings(self) -> list[CartWarning]:
        return self.warnings  # type: ignore[attr-defined,no-any-return]

    @strawberry.field(description="The order made from this cart, once checked out.")
    def order_id(self) -> strawberry.ID | None:
        pk = self.cart.order_id  # type: ignore[attr-defined]
        return ids.encode("Order", pk) if pk else None  # type: ignore[return-value]


# --------------------------------------------------------------------------- inputs


@strawberry.input
class AttributeInput:
    key: str
    value: str


@strawberry.input
class CartLineInput:
    merchandise_id: strawberry.ID = strawberry.field(description="A ProductVariant id.")
    quantity: int | None = 1
    attributes: list[AttributeInput] | None = None


@strawberry.input
class CartLineUpdateInput:
    id: strawberry.ID
    quantity: int | None = strawberry.field(default=None, description="0 removes the line.")
    attributes: list[AttributeInput] | None = None


@strawberry.input
class CartBuyerIdentityInput:
    email: str | None = None
    phone: str | None = None
    country_code: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    customer_access_token: str | None = strawberry.field(
        default=None,
        description="A customer's token (customer-scope key): the cart becomes that "
        "customer's, and from then on only that customer's key (or staff) reads or "
        "changes it. A guest cart or the customer's own only; an empty string unbinds.",
    )


@strawberry.input
class CartInput:
    lines: list[CartLineInput] | None = None
    discount_codes: list[str] | None = None
    buyer_identity: CartBuyerIdentityInput | None = None
    attributes: list[AttributeInput] | None = None
    note: str | None = None


@strawberry.input
class MailingAddressInput:
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    region: str | None = strawberry.field(default=None, description="State or province code.")
    postal_code: str | None = None
    country_code: str
    phone: str | None = None


@strawberry.input
class CartDeliveryGroupInput:
    line_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Omitted: every line no other group names."
    )
    shipping_address: MailingAddressInput | None = None
    pickup_location_id: strawberry.ID | None = None
    delivery_option_handle: str | None = strawberry.field(
        default=None, description="A handle from deliveryOptions; the cheapest by default."
    )


def _attrs(items: list[AttributeInput] | None) -> list[cartsvc.Attribute] | None:
    if items is None:
        return None
    return [cartsvc.Attribute(a.key, a.value) for a in items]


def _lines(items: list[CartLineInput]) -> list[cartsvc.LineInput]:
    return [
        cartsvc.LineInput(
            _variant_pk(ln.merchandise_id, "lines", str(i), "merchandiseId"),
            1 if ln.quantity is None else ln.quantity,
            _attrs(ln.attributes),
        )
        for i, ln in enumerate(items)
    ]


async def _buyer(info: Info, b: CartBuyerIdentityInput) -> tuple[cartsvc.BuyerIdentity, Principal]:
    """The buyer identity, and who acts: the request's key, or, for a request without
    a customer (no key, a storefront key), the customer whose token it passes as
    ``customerAccessToken`` (a storefront signing its shopper in). Binding a cart to a
    customer is then authorized in the domain, before anything is written."""
    out = cartsvc.BuyerIdentity(email=b.email, phone=b.phone, country_code=b.country_code)
    acting: Principal = info.context.principal
    if b.customer_access_token is not None:
        token = b.customer_access_token.strip()
        principal = await authenticate(info.context.reader, token) if token else None
        if token and (principal is None or principal.customer_id is None):
            raise fail(
                Code.INVALID,
                "not a valid customer token",
                "buyerIdentity",
                "customerAccessToken",
            )
        out.set_customer = True
        out.customer_pk = principal.customer_id if principal else None
        if principal is not None and not acting.is_staff and acting.customer_id is None:
            acting = principal
    return out, acting


# --------------------------------------------------------------------------- payloads


@strawberry.type
class _CartPayload:
    cart: CartType | None
    user_errors: list[UserErrorType]
    warnings: list[CartWarning]


@strawberry.type
class CartCreatePayload(_CartPayload):
    pass


@strawberry.type
class CartLinesAddPayload(_CartPayload):
    pass


@strawberry.type
class CartLinesUpdatePayload(_CartPayload):
    pass


@strawberry.type
class CartLinesRemovePayload(_CartPayload):
    pass


@strawberry.type
class CartDiscountCodesUpdatePayload(_CartPayload):
    pass


@strawberry.type
class CartBuyerIdentityUpdatePayload(_CartPayload):
    pass


@strawberry.type
class CartAttributesUpdatePayload(_CartPayload):
    pass


@strawberry.type
class CartNoteUpdatePayload(_CartPayload):
    pass


@strawberry.type
class CartDeliveryUpdatePayload(_CartPayload):
    pass


async def _run(
    info: Info,
    payload: type,
    token: str | None,
    op: Any,
    *,
    channel: Any = None,
    principal: Principal | None = None,
) -> Any:
    """Run a cart write, then return the cart as priced afterwards (or the userErrors
    of a refused write, which changed nothing). ``principal``: who acts, when not the
    request's key (see :func:`_buyer`)."""
    ctx = info.context
    principal = principal or ctx.principal
    com = commerce(info)
    try:
        if token is None:
            raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
        await ctx.reader.close()
        got = await op(com.carts)
    except DomainError as exc:
        return payload(cart=None, user_errors=from_domain(exc), warnings=[])
    state: cartsvc.CartState | None = None
    if isinstance(got, tuple):  # create: (the new cart as written, warnings)
        state, warnings = got
    else:
        warnings = got or []
    assert token is not None
    if state is not None:  # priced as written: nothing to read back
        priced = await cartsvc.view_state(
            com.db, state, principal, tax_engine=com.tax, channel=channel
        )
    else:
        priced = await cartsvc.view_cart(com.db, token, principal, tax_engine=com.tax)
    if priced is not None:
        seen = {(w.code, w.target) for w in priced.warnings}
        priced.warnings += [w for w in warnings if (w.code, w.target) not in seen]
        # A line its pickup location can't cover after this change is this change's
        # warning too (choosing the location, or adding more than it holds).
        mine = {(w.code, w.target) for w in warnings}
        warnings = warnings + [
            w
            for w in priced.warnings
            if w.code == cartsvc.WarningCode.NOT_AT_PICKUP_LOCATION
            and (w.code, w.target) not in mine
        ]
    return payload(
        cart=priced,
        user_errors=[],
        warnings=warnings,
    )


@strawberry.type
class CartQuery:
    @strawberry.field(
        description="A cart by id: null if unknown or another customer's; an expired cart "
        "is an error with extensions.code CART_EXPIRED."
    )
    async def cart(self, info: Info, id: strawberry.ID) -> CartType | None:
        token = cartsvc.parse_cart_id(id)
        if token is None:
            return None
        com = commerce(info)
        try:
            return await cartsvc.view_cart(  # type: ignore[return-value]
                com.db, token, info.context.principal, tax_engine=com.tax, expired_error=True
            )
        except DomainError as exc:
            raise ApiError(exc.errors[0].message, exc.errors[0].code) from None


@strawberry.type
class CartMutation:
    @strawberry.mutation(description="Create a cart in the request's channel.")
    async def cart_create(self, info: Info, input: CartInput | None = None) -> CartCreatePayload:
        data = input or CartInput()
        await _count_codes(info, data.discount_codes)
        principal = info.context.principal
        buyer = None
        try:
            channel = await info.context.channel(info)
            lines = _lines(data.lines or [])
            if data.buyer_identity:
                buyer, principal = await _buyer(info, data.buyer_identity)
        except DomainError as exc:
            return CartCreatePayload(cart=None, user_errors=from_domain(exc), warnings=[])
        return await _run(
            info,
            CartCreatePayload,
            "",
            lambda c: c.create_state(
                channel,
                principal,
                lines=lines,
                codes=data.discount_codes or [],
                buyer=buyer,
                attributes=_attrs(data.attributes),
                note=data.note,
            ),
            channel=channel,
            principal=principal,
        )

    @strawberry.mutation(description="Add lines (merged with a line of the same variant).")
    async def cart_lines_add(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineInput]
    ) -> CartLinesAddPayload:
        try:
            parsed = _lines(lines)
            token = _token(cart_id)
        except DomainError as exc:
            return CartLinesAddPayload(cart=None, user_errors=from_domain(exc), warnings=[])
        p = info.context.principal
        return await _run(info, CartLinesAddPayload, token, lambda c: c.add_lines(token, p, parsed))

    @strawberry.mutation(description="Change lines' quantities (0 removes) or attributes.")
    async def cart_lines_update(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineUpdateInput]
    ) -> CartLinesUpdatePayload:
        try:
            token = _token(cart_id)
            parsed = [
                cartsvc.LineUpdate(
                    _line_pk(ln.id, "lines", str(i), "id"), ln.quantity, _attrs(ln.attributes)
                )
                for i, ln in enumerate(lines)
            ]
        except DomainError as exc:
            return CartLinesUpdatePayload(cart=None, user_errors=from_domain(exc), warnings=[])
        p = info.context.principal
        return await _run(
            info, CartLinesUpdatePayload, token, lambda c: c.update_lines(token, p, parsed)
        )

    @strawberry.mutation
    async def cart_lines_remove(
        self, info: Info, cart_id: strawberry.ID, line_ids: list[strawberry.ID]
    ) -> CartLinesRemovePayload:
        try:
            token = _token(cart_id)
            pks = [_line_pk(g, "lineIds", str(i)) for i, g in enumerate(line_ids)]
        except DomainError as exc:
            return CartLinesRemovePayload(cart=None, user_errors=from_domain(exc), warnings=[])
        p = info.context.principal
        return await _run(
            info, CartLinesRemovePayload, token, lambda c: c.remove_lines(token, p, pks)
        )

    @strawberry.mutation(description="Replace the cart's discount codes.")
    async def cart_discount_codes_update(
        self, info: Info, cart_id: strawberry.ID, discount_codes: list[str]
    ) -> CartDiscountCodesUpdatePayload:
        await _count_codes(info, discount_codes)
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        return await _run(
            info,
            CartDiscountCodesUpdatePayload,
            token,
            lambda c: c.set_discount_codes(token, p, discount_codes),
        )

    @strawberry.mutation(description="Email, phone, country and the customer the cart is for.")
    async def cart_buyer_identity_update(
        self, info: Info, cart_id: strawberry.ID, buyer_identity: CartBuyerIdentityInput
    ) -> CartBuyerIdentityUpdatePayload:
        token = cartsvc.parse_cart_id(cart_id)
        try:
            buyer, p = await _buyer(info, buyer_identity)
        except DomainError as exc:
            return CartBuyerIdentityUpdatePayload(
                cart=None, user_errors=from_domain(exc), warnings=[]
            )
        return await _run(
            info,
            CartBuyerIdentityUpdatePayload,
            token,
            lambda c: c.set_buyer_identity(token, p, buyer),
            principal=p,
        )

    @strawberry.mutation(description="Replace the cart's attributes.")
    async def cart_attributes_update(
        self, info: Info, cart_id: strawberry.ID, attributes: list[AttributeInput]
    ) -> CartAttributesUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        attrs = _attrs(attributes) or []
        return await _run(
            info, CartAttributesUpdatePayload, token, lambda c: c.set_attributes(token, p, attrs)
        )

    @strawberry.mutation
    async def cart_note_update(
        self, info: Info, cart_id: strawberry.ID, note: str | None
    ) -> CartNoteUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        return await _run(info, CartNoteUpdatePayload, token, lambda c: c.set_note(token, p, note))

    @strawberry.mutation(
        description="Replace the delivery groups: each ships to an address or is picked "
        "up at a location, so one cart can mix both."
    )
    async def cart_delivery_update(
        self, info: Info, cart_id: strawberry.ID, delivery_groups: list[CartDeliveryGroupInput]
    ) -> CartDeliveryUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        try:
            groups = []
            for i, g in enumerate(delivery_groups):
                path = ("deliveryGroups", str(i))
                if (g.shipping_address is None) == (g.pickup_location_id is None) and (
                    g.pickup_location_id is not None
                ):
                    raise fail(Code.INVALID, "ship to an address or pick up, not both", *path)
                loc = None
                if g.pickup_location_id is not None:
                    try:
                        loc = ids.decode_pk(g.pickup_location_id, "Location")
                    except ids.InvalidId as exc:
                        raise fail(Code.INVALID, str(exc), *path, "pickupLocationId") from None
                addr = None
                if g.shipping_address is not None:
                    a = g.shipping_address
                    addr = {
                        "firstName": a.first_name,
                        "lastName": a.last_name,
                        "company": a.company,
                        "address1": a.address1,
                        "address2": a.address2,
                        "city": a.city,
                        "region": a.region,
                        "postalCode": a.postal_code,
                        "countryCode": a.country_code,
                        "phone": a.phone,
                    }
                groups.append(
                    cartsvc.DeliveryGroupInput(
                        kind="PICKUP" if loc is not None else "SHIPPING",
                        line_pks=None
                        if g.line_ids is None
                        else [
                            _line_pk(x, *path, "lineIds", str(j)) for j, x in enumerate(g.line_ids)
                        ],
                        address=addr,
                        location_pk=loc,
                        option_handle=g.delivery_option_handle,
                    )
                )
        except DomainError as exc:
            return CartDeliveryUpdatePayload(cart=None, user_errors=from_domain(exc), warnings=[])
        return await _run(
            info, CartDeliveryUpdatePayload, token, lambda c: c.set_delivery(token, p, groups)
        )


async def _cart_nodes(info: Info, tokens: list[str]) -> dict[str, cartsvc.PricedCart]:
    """node(id:): as cart(id:): a guest cart to anyone holding the unguessable id, a
    customer's cart to that customer's key (and staff); expired carts are null."""
    com = commerce(info)
    return await cartsvc.view_carts(com.db, tokens, info.context.principal, tax_engine=com.tax)


register_node("Cart", _cart_nodes, parse=lambda raw: cartsvc.parse_cart_id(cartsvc.CART_GID + raw))

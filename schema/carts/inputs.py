"""The cart mutations' inputs, and how each becomes the domain's input: global ids
decoded (a bad one is a userError on its field), nothing else decided here."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.auth import Principal
from hub.domain import carts as cartsvc
from hub.domain.errors import Code, fail
from schema.throttle import take


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
    loyalty_card_id: str | None = strawberry.field(
        default=None,
        description="The buyer's loyalty card, scanned at a till (admin/point-of-sale "
        "keys): the cart becomes that customer's, as with its token.",
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
    pickup_by_transfer: bool = strawberry.field(
        default=False,
        description="Endless aisle (a pickup group): a line the pickup store lacks is "
        "taken from another location and transferred to the store for pickup.",
    )


def input_pk(gid: str, type_name: str, *path: str) -> int:
    """The primary key of a global id in the input, or an INVALID userError on ``path``."""
    try:
        return ids.decode_pk(gid, type_name)
    except ids.InvalidId as exc:
        raise fail(Code.INVALID, str(exc), *path) from None


def cart_token(gid: str) -> str:
    """The token of a cart id; an unknown cart (NOT_FOUND on cartId) when it is none."""
    token = cartsvc.parse_cart_id(gid)
    if token is None:
        raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
    return token


def attributes(items: list[AttributeInput] | None) -> list[cartsvc.Attribute] | None:
    if items is None:
        return None
    return [cartsvc.Attribute(a.key, a.value) for a in items]


def new_lines(items: list[CartLineInput]) -> list[cartsvc.LineInput]:
    return [
        cartsvc.LineInput(
            input_pk(ln.merchandise_id, "ProductVariant", "lines", str(i), "merchandiseId"),
            1 if ln.quantity is None else ln.quantity,
            attributes(ln.attributes),
        )
        for i, ln in enumerate(items)
    ]


def line_updates(items: list[CartLineUpdateInput]) -> list[cartsvc.LineUpdate]:
    return [
        cartsvc.LineUpdate(
            input_pk(ln.id, "CartLine", "lines", str(i), "id"),
            ln.quantity,
            attributes(ln.attributes),
        )
        for i, ln in enumerate(items)
    ]


async def buyer(info: Info, b: CartBuyerIdentityInput) -> tuple[cartsvc.BuyerIdentity, Principal]:
    """The buyer identity, and who acts (see :func:`hub.domain.carts.sign_in_buyer`)."""
    out = cartsvc.BuyerIdentity(email=b.email, phone=b.phone, country_code=b.country_code)
    if b.customer_access_token and b.customer_access_token.strip():
        # A token check: limited per client like the other guessing paths.
        await take(
            info,
            "cart-token",
            info.context.settings.rate_limit_token_checks,
            what="customer token checks",
        )
    acting = await cartsvc.sign_in_buyer(
        info.context.reader, info.context.principal, out, b.customer_access_token
    )
    if b.loyalty_card_id is not None:
        if b.customer_access_token is not None:
            raise fail(
                Code.INVALID,
                "give a customerAccessToken or a loyaltyCardId, not both",
                "buyer_identity",
                "loyalty_card_id",
            )
        await cartsvc.scan_loyalty_card(info.context.reader, acting, out, b.loyalty_card_id)
    return out, acting


def _address(a: MailingAddressInput) -> dict[str, Any]:
    return {
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


def delivery_groups(items: list[CartDeliveryGroupInput]) -> list[cartsvc.DeliveryGroupInput]:
    groups = []
    for i, g in enumerate(items):
        path = ("deliveryGroups", str(i))
        kind = cartsvc.delivery_kind(
            g.shipping_address is not None, g.pickup_location_id is not None, *path
        )
        loc = None
        if g.pickup_location_id is not None:
            loc = input_pk(g.pickup_location_id, "Location", *path, "pickupLocationId")
        groups.append(
            cartsvc.DeliveryGroupInput(
                kind=kind,
                line_pks=None
                if g.line_ids is None
                else [
                    input_pk(x, "CartLine", *path, "lineIds", str(j))
                    for j, x in enumerate(g.line_ids)
                ],
                address=None if g.shipping_address is None else _address(g.shipping_address),
                location_pk=loc,
                option_handle=g.delivery_option_handle,
                transfer_in=g.pickup_by_transfer,
            )
        )
    return groups

"""The cart mutations: each parses its input, runs one ``Carts`` write, and answers the
cart as priced afterwards (or the userErrors of a refused write, which changed
nothing), with the warnings of the change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from hub.auth import Principal
from hub.domain import carts as cartsvc
from hub.domain.catalog import ChannelRecord
from hub.domain.errors import Code, fail
from schema.carts.inputs import (
    AttributeInput,
    CartBuyerIdentityInput,
    CartDeliveryGroupInput,
    CartInput,
    CartLineInput,
    CartLineUpdateInput,
    buyer,
    cart_token,
    input_pk,
    line_updates,
    new_lines,
)
from schema.carts.inputs import attributes as attribute_list
from schema.carts.inputs import delivery_groups as parse_delivery_groups
from schema.carts.types import CartType, CartWarning, shown
from schema.errors import UserError, run_write
from schema.throttle import take

Write = Callable[[cartsvc.Carts], Awaitable[Any]]


def commerce(info: Info) -> Any:
    return info.context.hub


async def _count_codes(info: Info, codes: list[str] | None) -> None:
    """Every discount code entered counts against the client's guessing limit."""
    limit = info.context.settings.rate_limit_discount_codes
    await take(info, "discount", limit, len(codes or ()), what="discount codes entered")


@strawberry.type
class _CartPayload:
    cart: CartType | None
    user_errors: list[UserError]
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


@strawberry.type
class CartLoyaltyRedeemPayload(_CartPayload):
    pass


P = TypeVar("P", bound=_CartPayload)


def _refused(payload: type[P], errors: list[UserError]) -> P:
    return payload(cart=None, user_errors=errors, warnings=[])


async def _run(
    info: Info,
    payload: type[P],
    token: str | None,
    op: Write,
    *,
    channel: ChannelRecord | None = None,
    principal: Principal | None = None,
) -> P:
    """Run a cart write, then return the cart as priced afterwards (or the userErrors
    of a refused write, which changed nothing). ``principal``: who acts, when not the
    request's key (see :func:`hub.domain.carts.sign_in_buyer`)."""
    ctx = info.context
    principal = principal or ctx.principal
    com = commerce(info)

    async def write() -> tuple[Any]:
        if token is None:
            raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
        return (await op(com.carts),)  # a tuple: the op's own answer may be None

    done, errs = await run_write(info, write)
    if done is None:
        return _refused(payload, errs)
    (got,) = done
    state: cartsvc.CartState | None = None
    if isinstance(got, tuple):  # create: (the new cart as written, warnings)
        state, warnings = got
    else:
        warnings = got or []
    if state is not None:  # priced as written: nothing to read back
        priced = await cartsvc.view_state(
            com.db, state, principal, tax_engine=com.tax, channel=channel
        )
    else:
        priced = await cartsvc.view_cart(com.db, _known(token), principal, tax_engine=com.tax)
    if priced is not None:
        warnings = cartsvc.change_warnings(priced, warnings)
    return payload(cart=shown(priced), user_errors=[], warnings=warnings)


@strawberry.type
class CartMutation:
    @strawberry.mutation(description="Create a cart in the request's channel.")
    async def cart_create(self, info: Info, input: CartInput | None = None) -> CartCreatePayload:
        data = input or CartInput()
        await _count_codes(info, data.discount_codes)

        async def parse() -> tuple[Any, Any, Any, Principal]:
            principal = info.context.principal
            bought = None
            channel = await info.context.channel()
            lines = new_lines(data.lines or [])
            if data.buyer_identity:
                bought, principal = await buyer(info, data.buyer_identity)
            return channel, lines, bought, principal

        parsed, errs = await run_write(info, parse, release_reader=False)
        if parsed is None:
            return _refused(CartCreatePayload, errs)
        channel, lines, bought, principal = parsed
        return await _run(
            info,
            CartCreatePayload,
            "",
            lambda c: c.create_state(
                channel,
                principal,
                lines=lines,
                codes=data.discount_codes or [],
                buyer=bought,
                attributes=attribute_list(data.attributes),
                note=data.note,
            ),
            channel=channel,
            principal=principal,
        )

    @strawberry.mutation(description="Add lines (merged with a line of the same variant).")
    async def cart_lines_add(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineInput]
    ) -> CartLinesAddPayload:

        async def parse() -> tuple[Any, str]:
            return new_lines(lines), cart_token(cart_id)

        got, errs = await run_write(info, parse, release_reader=False)
        if got is None:
            return _refused(CartLinesAddPayload, errs)
        parsed, token = got
        p = info.context.principal
        return await _run(info, CartLinesAddPayload, token, lambda c: c.add_lines(token, p, parsed))

    @strawberry.mutation(description="Change lines' quantities (0 removes) or attributes.")
    async def cart_lines_update(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineUpdateInput]
    ) -> CartLinesUpdatePayload:

        async def parse() -> tuple[str, Any]:
            return cart_token(cart_id), line_updates(lines)

        got, errs = await run_write(info, parse, release_reader=False)
        if got is None:
            return _refused(CartLinesUpdatePayload, errs)
        token, parsed = got
        p = info.context.principal
        return await _run(
            info, CartLinesUpdatePayload, token, lambda c: c.update_lines(token, p, parsed)
        )

    @strawberry.mutation
    async def cart_lines_remove(
        self, info: Info, cart_id: strawberry.ID, line_ids: list[strawberry.ID]
    ) -> CartLinesRemovePayload:

        async def parse() -> tuple[str, list[int]]:
            token = cart_token(cart_id)
            return token, [
                input_pk(g, "CartLine", "lineIds", str(i)) for i, g in enumerate(line_ids)
            ]

        got, errs = await run_write(info, parse, release_reader=False)
        if got is None:
            return _refused(CartLinesRemovePayload, errs)
        token, pks = got
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
            lambda c: c.set_discount_codes(_known(token), p, discount_codes),
        )

    @strawberry.mutation(description="Email, phone, country and the customer the cart is for.")
    async def cart_buyer_identity_update(
        self, info: Info, cart_id: strawberry.ID, buyer_identity: CartBuyerIdentityInput
    ) -> CartBuyerIdentityUpdatePayload:
        token = cartsvc.parse_cart_id(cart_id)
        got, errs = await run_write(info, lambda: buyer(info, buyer_identity), release_reader=False)
        if got is None:
            return _refused(CartBuyerIdentityUpdatePayload, errs)
        bought, p = got
        return await _run(
            info,
            CartBuyerIdentityUpdatePayload,
            token,
            lambda c: c.set_buyer_identity(_known(token), p, bought),
            principal=p,
        )

    @strawberry.mutation(description="Replace the cart's attributes.")
    async def cart_attributes_update(
        self, info: Info, cart_id: strawberry.ID, attributes: list[AttributeInput]
    ) -> CartAttributesUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        attrs = attribute_list(attributes) or []
        return await _run(
            info,
            CartAttributesUpdatePayload,
            token,
            lambda c: c.set_attributes(_known(token), p, attrs),
        )

    @strawberry.mutation
    async def cart_note_update(
        self, info: Info, cart_id: strawberry.ID, note: str | None
    ) -> CartNoteUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        return await _run(
            info, CartNoteUpdatePayload, token, lambda c: c.set_note(_known(token), p, note)
        )

    @strawberry.mutation(
        description="Redeem the signed-in buyer's loyalty points as a discount on the cart "
        "(0 redeems none). The cart applies at most the balance and at most what the "
        "merchandise costs (a LOYALTY_POINTS_REDUCED warning says so); checkout spends "
        "them, refusing with INSUFFICIENT_POINTS if the balance no longer covers them."
    )
    async def cart_loyalty_redeem(
        self, info: Info, cart_id: strawberry.ID, points: int
    ) -> CartLoyaltyRedeemPayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)
        return await _run(
            info,
            CartLoyaltyRedeemPayload,
            token,
            lambda c: c.set_loyalty_points(_known(token), p, points),
        )

    @strawberry.mutation(
        description="Replace the delivery groups: each ships to an address or is picked "
        "up at a location, so one cart can mix both."
    )
    async def cart_delivery_update(
        self, info: Info, cart_id: strawberry.ID, delivery_groups: list[CartDeliveryGroupInput]
    ) -> CartDeliveryUpdatePayload:
        p = info.context.principal
        token = cartsvc.parse_cart_id(cart_id)

        async def parse() -> list[Any]:
            return parse_delivery_groups(delivery_groups)

        groups, errs = await run_write(info, parse, release_reader=False)
        if groups is None:
            return _refused(CartDeliveryUpdatePayload, errs)
        return await _run(
            info,
            CartDeliveryUpdatePayload,
            token,
            lambda c: c.set_delivery(_known(token), p, groups),
        )


def _known(token: str | None) -> str:
    """A token :func:`_run` has checked is there (it answers NOT_FOUND without one)."""
    assert token is not None
    return token

"""Mutations of returns, exchanges and substitutions (see :mod:`schema.orders.returns`
for the types): staff open, approve, decline, receive and resolve returns and propose
substitutes; customer keys request returns and decide substitutes on their own orders."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from hub import ids
from hub.domain.orders import return_records as rr
from hub.domain.orders.return_receive import ReceiveLineInput
from hub.domain.orders.returns import ExchangeLineInput, NewReturn, ReturnLineInput
from schema.checkout import PaymentInput, _payment_request
from schema.errors import ApiCode, ApiError, decode_id, run_write
from schema.errors import UserError as UserErrorType
from schema.orders.loaders import order_loaders
from schema.orders.returns import (
    ReturnDisposition,
    ReturnReason,
    ReturnResolution,
    ReturnType,
    SubstitutionType,
    return_loaders,
)
from schema.orders.scope import order_reached, require_at, restricted
from schema.permissions import denied, needs

# ----- inputs and payloads


@strawberry.input(name="ReturnLineInput")
class ReturnLineInputType:
    order_line_id: strawberry.ID
    quantity: int
    reason: ReturnReason  # type: ignore[valid-type]
    note: str | None = None
    serial_number: str | None = None


@strawberry.input(name="ExchangeLineInput")
class ExchangeLineInputType:
    variant_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class ReturnReceiveLineInput:
    return_line_id: strawberry.ID
    quantity: int
    disposition: ReturnDisposition  # type: ignore[valid-type]


@strawberry.type
class ReturnPayload:
    return_: ReturnType | None = strawberry.field(name="return")
    gift_card_code: str | None = strawberry.field(
        default=None, description="Store credit's code: shown once, by the call that issued it."
    )
    user_errors: list[UserErrorType] = strawberry.field(default_factory=list)


@strawberry.type
class SubstitutionPayload:
    substitution: SubstitutionType | None
    user_errors: list[UserErrorType]


def _value(v: Any) -> str:
    return str(v.value if isinstance(v, Enum) else v)


def _actor(info: Info) -> str:
    return str(info.context.principal.name or "staff")[:128]


def _new_return(
    order_id: str,
    lines: list[ReturnLineInputType],
    resolution: rr.Resolution,
    exchange_lines: list[ExchangeLineInputType] | None,
    note: str | None,
    actor: str,
    location_pk: int | None,
) -> NewReturn:
    return NewReturn(
        order_pk=decode_id(order_id, "Order", "order_id"),
        lines=[
            ReturnLineInput(
                order_line_pk=decode_id(
                    ln.order_line_id, "OrderLineItem", "lines", str(i), "order_line_id"
                ),
                quantity=ln.quantity,
                reason=rr.ReturnReason(_value(ln.reason)),
                note=ln.note,
                serial_number=ln.serial_number,
            )
            for i, ln in enumerate(lines)
        ],
        resolution=rr.Resolution(_value(resolution)),
        location_pk=location_pk,
        exchange_lines=[
            ExchangeLineInput(
                decode_id(x.variant_id, "ProductVariant", "exchange_lines", str(i), "variant_id"),
                x.quantity,
            )
            for i, x in enumerate(exchange_lines or ())
        ],
        note=note,
        actor=actor,
    )


async def _return_payload(info: Info, pk: int | None, errs: list[UserErrorType]) -> ReturnPayload:
    if pk is None:
        return ReturnPayload(return_=None, user_errors=errs)
    got = await return_loaders(info).return_by_id.load(pk)
    return ReturnPayload(return_=got, user_errors=errs)


async def _require_return(info: Info, return_gid: str) -> None:
    """ACCESS_DENIED unless a location-restricted role reaches the return: at one of its
    locations (where it is expected or was received), or of an order it reaches."""
    if not restricted(info):
        return
    try:
        pk = ids.decode_pk(return_gid, "Return")
    except ids.InvalidId:
        return  # the write answers it
    loader = return_loaders(info).return_by_id
    got = await loader.load(pk)
    loader.clear(pk)  # the write changes it: its payload reads it again
    if got is None:
        return
    where = info.context.principal.locations("orders")
    at = {got.location_pk, got.received_location_pk} - {None}
    if where is not None and at & where:
        return
    order = await order_loaders(info).order_by_id.load(got.order_pk)
    if order is None or not await order_reached(info, order):
        raise denied("the orders permission does not reach this return")


@strawberry.type
class ReturnMutation:
    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Staff open a return at any location (a web order returned in a store).",
    )
    async def return_create(
        self,
        info: Info,
        order_id: strawberry.ID,
        lines: list[ReturnLineInputType],
        resolution: ReturnResolution,  # type: ignore[valid-type]
        location_id: strawberry.ID | None = None,
        exchange_lines: list[ExchangeLineInputType] | None = None,
        note: str | None = None,
    ) -> ReturnPayload:
        require_at(info, location_id)
        svc = info.context.hub.after_sale

        async def go() -> int:
            loc = decode_id(location_id, "Location", "location_id") if location_id else None
            new = _new_return(order_id, lines, resolution, exchange_lines, note, _actor(info), loc)
            pk: int = await svc.open_return(new)
            return pk

        pk, errs = await run_write(info, go)
        return await _return_payload(info, pk, errs)

    @strawberry.mutation(
        description="A customer asks to return items of its own order by mail (REQUESTED "
        "until staff approve it)."
    )
    async def return_request(
        self,
        info: Info,
        order_id: strawberry.ID,
        lines: list[ReturnLineInputType],
        resolution: ReturnResolution = rr.Resolution.REFUND,  # type: ignore[valid-type]
        exchange_lines: list[ExchangeLineInputType] | None = None,
        note: str | None = None,
    ) -> ReturnPayload:
        p = info.context.principal
        if p.customer_id is None and not p.can("orders"):
            raise ApiError("returnRequest needs a customer key", ApiCode.ACCESS_DENIED)
        svc = info.context.hub.after_sale

        async def go() -> int:
            new = _new_return(order_id, lines, resolution, exchange_lines, note, _actor(info), None)
            pk: int = await svc.request_return(new, p)
            return pk

        pk, errs = await run_write(info, go)
        return await _return_payload(info, pk, errs)

    @strawberry.mutation(
        permission_classes=needs("orders"), description="Approve a customer's request."
    )
    async def return_approve(
        self, info: Info, return_id: strawberry.ID, location_id: strawberry.ID | None = None
    ) -> ReturnPayload:
        await _require_return(info, return_id)
        if location_id is not None:
            require_at(info, location_id)
        return await _decide(info, return_id, location_id, approve=True)

    @strawberry.mutation(
        permission_classes=needs("orders"), description="Decline a customer's request."
    )
    async def return_decline(self, info: Info, return_id: strawberry.ID) -> ReturnPayload:
        await _require_return(info, return_id)
        return await _decide(info, return_id, None, approve=False)

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Receive returned units at a location (restock, quarantine or dispose, "
        "through the ledger); once every unit is in, the money is resolved: a refund to "
        "the original payment, store credit (a gift card) or the exchange's new order.",
    )
    async def return_receive(
        self,
        info: Info,
        return_id: strawberry.ID,
        location_id: strawberry.ID,
        lines: list[ReturnReceiveLineInput],
        exchange_payment: PaymentInput | None = None,
    ) -> ReturnPayload:
        await _require_return(info, return_id)
        require_at(info, location_id)
        svc = info.context.hub.after_sale
        pk = decode_id(return_id, "Return")

        async def go() -> Any:
            loc = decode_id(location_id, "Location", "location_id")
            got = [
                ReceiveLineInput(
                    decode_id(ln.return_line_id, "ReturnLine", "lines", str(i), "return_line_id"),
                    ln.quantity,
                    rr.Disposition(_value(ln.disposition)),
                )
                for i, ln in enumerate(lines)
            ]
            pay = _payment_request(exchange_payment) if exchange_payment is not None else None
            return await svc.receive(
                pk,
                loc,
                got,
                principal=info.context.principal,
                actor=_actor(info),
                exchange_payment=pay,
            )

        done, errs = await run_write(info, go)
        payload = await _return_payload(info, pk, errs)
        if done is not None:
            payload.gift_card_code = done.gift_card_code
        return payload

    @strawberry.mutation(
        permission_classes=needs("orders", "refunds"),
        description="Resolve a received return's money again (after a failed refund or exchange).",
    )
    async def return_resolve(
        self,
        info: Info,
        return_id: strawberry.ID,
        exchange_payment: PaymentInput | None = None,
    ) -> ReturnPayload:
        await _require_return(info, return_id)
        svc = info.context.hub.after_sale
        pk = decode_id(return_id, "Return")

        async def go() -> Any:
            pay = _payment_request(exchange_payment) if exchange_payment is not None else None
            return await svc.resolve(
                pk, principal=info.context.principal, actor=_actor(info), exchange_payment=pay
            )

        done, errs = await run_write(info, go)
        payload = await _return_payload(info, pk, errs)
        if done is not None:
            payload.gift_card_code = done.gift_card_code
        return payload

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Propose a substitute for units of a line that can't be picked; the "
        "customer approves or declines it.",
    )
    async def fulfillment_order_line_substitute(
        self,
        info: Info,
        fulfillment_order_line_id: strawberry.ID,
        variant_id: strawberry.ID,
        quantity: int,
        note: str | None = None,
    ) -> SubstitutionPayload:
        # Its location is its line's: a role restricted to some locations can't propose one.
        require_at(info, None)
        svc = info.context.hub.after_sale

        async def go() -> int:
            line = decode_id(
                fulfillment_order_line_id, "FulfillmentOrderLine", "fulfillment_order_line_id"
            )
            variant = decode_id(variant_id, "ProductVariant", "variant_id")
            pk: int = await svc.propose_substitution(
                line, variant, quantity, note, actor=_actor(info)
            )
            return pk

        pk, errs = await run_write(info, go)
        return await _substitution_payload(info, pk, errs)

    @strawberry.mutation(description="The customer approves a substitute (its own order).")
    async def substitution_approve(
        self, info: Info, substitution_id: strawberry.ID
    ) -> SubstitutionPayload:
        return await _decide_substitution(info, substitution_id, approve=True)

    @strawberry.mutation(
        description="The customer declines a substitute: the units are cancelled and refunded."
    )
    async def substitution_decline(
        self, info: Info, substitution_id: strawberry.ID
    ) -> SubstitutionPayload:
        return await _decide_substitution(info, substitution_id, approve=False)


async def _decide(
    info: Info, return_id: str, location_id: str | None, *, approve: bool
) -> ReturnPayload:
    svc = info.context.hub.after_sale
    pk = decode_id(return_id, "Return")

    async def go() -> int:
        loc = decode_id(location_id, "Location", "location_id") if location_id else None
        await svc.decide_request(pk, approve=approve, location_pk=loc, actor=_actor(info))
        return pk

    got, errs = await run_write(info, go)
    return await _return_payload(info, got, errs)


async def _decide_substitution(
    info: Info, substitution_id: str, *, approve: bool
) -> SubstitutionPayload:
    p = info.context.principal
    if p.customer_id is None and not p.can("orders"):
        raise ApiError("this needs a customer key", ApiCode.ACCESS_DENIED)
    svc = info.context.hub.after_sale
    pk = decode_id(substitution_id, "Substitution")

    async def go() -> int:
        await svc.decide_substitution(pk, approve=approve, principal=p, actor=_actor(info))
        return pk

    got, errs = await run_write(info, go)
    return await _substitution_payload(info, got, errs)


async def _substitution_payload(
    info: Info, pk: int | None, errs: list[UserErrorType]
) -> SubstitutionPayload:
    if pk is None:
        return SubstitutionPayload(substitution=None, user_errors=errs)
    got = await rr.substitutions_by_pks(info.context.reader, [pk])
    # The record stands for the GraphQL type (its fields resolve by name).
    return SubstitutionPayload(substitution=got.get(pk), user_errors=errs)  # type: ignore[arg-type]

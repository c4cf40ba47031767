"""Staff mutations of the order book's money: ``orderCapture``, ``orderCancel``,
``refundCreate`` and ``orderImport``. Each parses its input, calls one operation of
``hub.orders`` (:class:`hub.domain.orders.Orders`) and maps the result; failures are
``userErrors`` with an ``OrderCode`` (or a common code) and write nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from hub.db.tables import orders_t
from hub.domain import orders as ordersvc
from hub.domain.errors import Code, fail
from hub.money import Money, MoneyError, parse_amount
from schema.catalog import MoneyType
from schema.errors import UserError as UserErrorType
from schema.errors import decode_id, run_write
from schema.orders.loaders import order_loaders
from schema.orders.scope import require_at, require_channel_of, require_order
from schema.orders.types import OrderType, RefundType
from schema.permissions import needs


def actor(info: Info) -> str:
    p = info.context.principal
    return f"key:{p.key_pk}" if p.key_pk is not None else p.name


async def _order_currency(info: Info, order_pk: int) -> str:
    async with info.context.db.read() as conn:
        got = (
            await conn.execute(select(orders_t.c.currency).where(orders_t.c.id == order_pk))
        ).scalar()
    if got is None:
        raise fail(Code.NOT_FOUND, "no order with that id", "order_id")
    return str(got)


def _minor(amount: Decimal | None, currency: str, *path: str) -> int | None:
    if amount is None:
        return None
    try:
        return parse_amount(amount, currency)
    except MoneyError as exc:
        raise fail(Code.INVALID, str(exc), *path) from None


async def _fresh(info: Info, order_pk: int) -> Any:
    """The order as it stands after the write (the request's loader may hold it
    from before)."""
    got = await ordersvc.orders_by_pks(info.context.reader, [order_pk])
    return got.get(order_pk)


@strawberry.type
class OrderCapturePayload:
    order: OrderType | None
    captured: MoneyType | None = strawberry.field(description="What this capture took.")
    user_errors: list[UserErrorType]


@strawberry.type
class OrderCancelPayload:
    order: OrderType | None
    refund: RefundType | None = strawberry.field(description="With refund: true, the refund.")
    user_errors: list[UserErrorType]


@strawberry.type
class RefundCreatePayload:
    refund: RefundType | None
    order: OrderType | None
    user_errors: list[UserErrorType]


@strawberry.type
class OrderImportPayload:
    order: OrderType | None
    user_errors: list[UserErrorType]
    created: bool | None = strawberry.field(
        default=None,
        description="True: imported now; false: imported before (the same order); "
        "null when refused.",
    )


@strawberry.input
class RefundLineInput:
    line_item_id: strawberry.ID
    quantity: int


@strawberry.input
class OrderImportLineInput:
    variant_id: strawberry.ID | None = None
    sku: str | None = strawberry.field(default=None, description="Without a variant.")
    title: str | None = None
    quantity: int
    unit_price: Decimal = strawberry.field(description="As sold, in the channel's currency.")
    total_tax: Decimal = Decimal(0)
    total_discount: Decimal = Decimal(0)


@strawberry.input
class OrderImportInput:
    source: str = strawberry.field(description='Where it was placed: "amazon", "legacy-pos"...')
    external_id: str = strawberry.field(description="Its id there (unique per source).")
    channel_id: strawberry.ID
    location_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Commit the stock here; without, the default allocation routes it.",
    )
    email: str | None = None
    phone: str | None = None
    loyalty_card_id: str | None = strawberry.field(
        default=None,
        description="The shopper's loyalty card number: with the email and phone, it "
        "names the customer the order joins (a card first, then email, then phone).",
    )
    lines: list[OrderImportLineInput]
    shipping_price: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    taxes_included: bool = False
    financial_status: str = strawberry.field(
        default="PAID", description="PAID (taken elsewhere) or PENDING."
    )
    delivery_kind: str = strawberry.field(default="SHIPPING", description="SHIPPING or PICKUP.")
    note: str | None = None
    processed_at: datetime | None = strawberry.field(
        default=None, description="When it was placed there (kept on the timeline)."
    )


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Capture an authorized order, all that may be captured or `amount` of "
        "it. A Stripe authorization is captured once: a partial capture releases the rest "
        "(recorded as a VOID). Never more than the authorizations hold or the order still "
        "asks for (cancelled units are not due). The same idempotencyKey captures once.",
    )
    async def order_capture(
        self,
        info: Info,
        order_id: strawberry.ID,
        idempotency_key: str,
        amount: Decimal | None = None,
    ) -> OrderCapturePayload:
        await require_order(info, order_id)

        async def go() -> Any:
            pk = decode_id(order_id, "Order", "orderId")
            minor = _minor(amount, await _order_currency(info, pk), "amount")
            return await info.context.hub.orders.capture(
                pk, minor, idempotency_key=idempotency_key, actor=actor(info)
            )

        got, errs = await run_write(info, go)
        if got is None:
            return OrderCapturePayload(order=None, captured=None, user_errors=errs)
        order = await _fresh(info, got.order_pk)
        return OrderCapturePayload(
            order=order,
            captured=Money(got.captured, order.currency),  # type: ignore[arg-type]  # resolved by name
            user_errors=[],
        )

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Cancel an open order none of whose units were fulfilled: voids "
        "uncaptured authorizations, refunds captured money when `refund`, and releases "
        "the stock committed to it. `restock: true` (default) makes the units sellable "
        "again; false holds them in quarantine at their location for inspection.",
    )
    async def order_cancel(
        self,
        info: Info,
        order_id: strawberry.ID,
        reason: str,
        restock: bool = True,
        refund: bool = False,
    ) -> OrderCancelPayload:
        await require_order(info, order_id)

        async def go() -> Any:
            pk = decode_id(order_id, "Order", "orderId")
            return await info.context.hub.orders.cancel(
                pk, reason=reason, restock=restock, refund=refund, actor=actor(info)
            )

        got, errs = await run_write(info, go)
        if got is None:
            return OrderCancelPayload(order=None, refund=None, user_errors=errs)
        order = await _fresh(info, got.order_pk)
        return OrderCancelPayload(order=order, refund=got.refund, user_errors=[])

    @strawberry.mutation(
        permission_classes=needs("refunds"),
        description="Refund an order's lines (their share of the line total, with tax), "
        "shipping, or an `amount`, to the original payment methods in the order they "
        "were taken (Stripe, gift card re-credit, cash or terminal recorded at the till). "
        "Never more than was captured; the same idempotencyKey refunds once.",
    )
    async def refund_create(
        self,
        info: Info,
        order_id: strawberry.ID,
        idempotency_key: str,
        lines: list[RefundLineInput] | None = None,
        shipping: Decimal | None = None,
        amount: Decimal | None = None,
        note: str | None = None,
    ) -> RefundCreatePayload:
        await require_order(info, order_id, "refunds")

        async def go() -> Any:
            pk = decode_id(order_id, "Order", "orderId")
            currency = await _order_currency(info, pk)
            parsed = [
                (decode_id(ln.line_item_id, "OrderLineItem", "lines", str(i), "lineItemId"),
                 ln.quantity)
                for i, ln in enumerate(lines or [])
            ]  # fmt: skip
            return await info.context.hub.orders.refund(
                pk,
                lines=parsed,
                shipping=_minor(shipping, currency, "shipping") or 0,
                amount=_minor(amount, currency, "amount"),
                note=note,
                idempotency_key=idempotency_key,
                actor=actor(info),
            )

        got, errs = await run_write(info, go)
        if got is None:
            return RefundCreatePayload(refund=None, order=None, user_errors=errs)
        order = await _fresh(info, got.order_pk)
        return RefundCreatePayload(refund=got, order=order, user_errors=[])

    @strawberry.mutation(
        permission_classes=needs("orders"),
        description="Import an order placed elsewhere, once per (source, externalId): "
        "prices and taxes as given, stock committed at `locationId` (or routed), the "
        "customer attached by loyalty card, email or phone when one names a profile.",
    )
    async def order_import(
        self, info: Info, input: OrderImportInput, idempotency_key: str
    ) -> OrderImportPayload:
        require_channel_of(info, input.channel_id, "orders")
        require_at(info, input.location_id)

        async def go() -> Any:
            channel_pk = decode_id(input.channel_id, "Channel", "input", "channelId")
            loc = (
                decode_id(input.location_id, "Location", "input", "locationId")
                if input.location_id is not None
                else None
            )
            currency = await _channel_currency(info, channel_pk)
            lines = []
            for i, ln in enumerate(input.lines):
                at = ("input", "lines", str(i))
                lines.append(
                    ordersvc.ImportLine(
                        quantity=ln.quantity,
                        unit_price=_minor(ln.unit_price, currency, *at, "unitPrice") or 0,
                        variant_pk=decode_id(ln.variant_id, "ProductVariant", *at, "variantId")
                        if ln.variant_id is not None
                        else None,
                        sku=ln.sku,
                        title=ln.title,
                        tax=_minor(ln.total_tax, currency, *at, "totalTax") or 0,
                        discount=_minor(ln.total_discount, currency, *at, "totalDiscount") or 0,
                    )
                )
            req = ordersvc.ImportRequest(
                source=input.source,
                external_id=input.external_id,
                channel_pk=channel_pk,
                lines=lines,
                location_pk=loc,
                email=input.email,
                phone=input.phone,
                loyalty_card_id=input.loyalty_card_id,
                shipping=_minor(input.shipping_price, currency, "input", "shippingPrice") or 0,
                shipping_tax=_minor(input.shipping_tax, currency, "input", "shippingTax") or 0,
                taxes_included=input.taxes_included,
                financial_status=input.financial_status,
                note=input.note,
                delivery_kind=input.delivery_kind,
                processed_at=input.processed_at,
                idempotency_key=idempotency_key,
            )
            return await info.context.hub.orders.import_order(req, actor=actor(info))

        got, errs = await run_write(info, go)
        if got is None:
            return OrderImportPayload(order=None, user_errors=errs)
        pk, created = got
        order = await order_loaders(info).order_by_id.load(pk)
        return OrderImportPayload(order=order, created=created, user_errors=[])


async def _channel_currency(info: Info, channel_pk: int) -> str:
    from hub.db.tables import channels_t

    async with info.context.db.read() as conn:
        got = (
            await conn.execute(select(channels_t.c.currency).where(channels_t.c.id == channel_pk))
        ).scalar()
    if got is None:
        raise fail(Code.NOT_FOUND, "no channel with that id", "input", "channelId")
    return str(got)

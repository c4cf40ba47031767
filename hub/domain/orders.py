"""Orders: what checkout creates, how they read, and how payment events move them.

An order is written in one transaction with its lines, its payment, the promotion
redemptions, the stock commitments and an ``order.created`` event in the outbox. Its
``name`` is ``#`` + (1000 + id): unique without a counter row every checkout would
contend on (a rolled-back checkout leaves a gap, as order numbers usually may).

Payment status only moves forward (PENDING -> AUTHORIZED -> PAID -> PARTIALLY_REFUNDED
-> REFUNDED; PENDING/AUTHORIZED -> VOIDED or FAILED), so a late or replayed webhook
never undoes a newer state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult, WebhookEvent
from hub import ids
from hub.db.database import Database, Reader
from hub.db.models import Order, OrderLine, Payment, PaymentWebhookEvent
from hub.events.bus import Event
from hub.events.outbox import Outbox
from hub.money import Money

if TYPE_CHECKING:
    from hub.domain.carts import PricedCart

orders_t = Order.__table__
order_lines_t = OrderLine.__table__
payments_t = Payment.__table__
webhook_events_t = PaymentWebhookEvent.__table__

NAME_OFFSET = 1000

# Provider payment status -> the order's payment status.
PAYMENT_STATUS = {
    "processing": "PENDING",
    "requires_action": "PENDING",
    "authorized": "AUTHORIZED",
    "captured": "PAID",
    "partially_refunded": "PARTIALLY_REFUNDED",
    "refunded": "REFUNDED",
    "canceled": "VOIDED",
    "failed": "FAILED",
}
_FORWARD = {
    "PENDING": {"AUTHORIZED", "PAID", "VOIDED", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED"},
    "AUTHORIZED": {"PAID", "VOIDED", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED"},
    "PAID": {"PARTIALLY_REFUNDED", "REFUNDED"},
    "PARTIALLY_REFUNDED": {"PARTIALLY_REFUNDED", "REFUNDED"},
    "REFUNDED": set(),
    "VOIDED": set(),
    "FAILED": set(),
}


def _now() -> datetime:
    return datetime.now(UTC)


def order_name(pk: int) -> str:
    return f"#{NAME_OFFSET + pk}"


# --------------------------------------------------------------------------- records


class OrderRecord:
    __slots__ = (
        "channel_pk",
        "created_at",
        "currency",
        "customer_pk",
        "delivery",
        "discount_codes",
        "discount_total",
        "discounts",
        "email",
        "fulfillment_status",
        "id",
        "name",
        "note",
        "payment_status",
        "phone",
        "pk",
        "shipping_total",
        "status",
        "subtotal",
        "tax_total",
        "taxes_included",
        "test",
        "total",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("Order", row.id)
        self.name = row.name or order_name(row.id)
        self.channel_pk = row.channel_id
        self.customer_pk = row.customer_id
        self.email = row.email
        self.phone = row.phone
        self.status = row.status
        self.payment_status = row.payment_status
        self.fulfillment_status = row.fulfillment_status
        self.currency = row.currency
        self.taxes_included = row.taxes_included
        self.subtotal = Money(row.subtotal, row.currency)
        self.discount_total = Money(row.discount_total, row.currency)
        self.shipping_total = Money(row.shipping_total, row.currency)
        self.tax_total = Money(row.tax_total, row.currency)
        self.total = Money(row.total, row.currency)
        self.discount_codes = list(row.discount_codes or ())
        self.discounts = list(row.discounts or ())
        self.delivery = list(row.delivery or ())
        self.note = row.note
        self.test = bool(row.test)
        self.created_at = row.created_at


class OrderLineRecord:
    __slots__ = (
        "allocations",
        "compare_at",
        "delivery_kind",
        "discount",
        "discount_allocations",
        "id",
        "pk",
        "quantity",
        "sku",
        "subtotal",
        "tax",
        "title",
        "total",
        "unit_price",
        "variant_pk",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("OrderLineItem", row.id)
        self.variant_pk = row.variant_id
        self.sku = row.sku
        self.title = row.title
        self.quantity = row.quantity
        self.unit_price = Money(row.unit_price, currency)
        self.compare_at = Money(row.compare_at, currency) if row.compare_at is not None else None
        self.subtotal = Money(row.subtotal, currency)
        self.discount = Money(row.discount, currency)
        self.tax = Money(row.tax, currency)
        self.total = Money(row.total, currency)
        self.discount_allocations = [
            (a.get("title", ""), Money(int(a.get("amount", 0)), currency))
            for a in row.discount_allocations or ()
        ]
        self.allocations = list(row.allocations or ())
        self.delivery_kind = row.delivery_kind


class PaymentRecord:
    __slots__ = (
        "amount",
        "amount_captured",
        "amount_refunded",
        "id",
        "intent_id",
        "pk",
        "provider",
        "status",
        "test",
    )

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("Payment", row.id)
        self.test = bool(row.test)
        self.provider = row.provider
        self.intent_id = row.intent_id
        self.status = row.status
        self.amount = Money(row.amount, currency)
        self.amount_captured = Money(row.amount_captured, currency)
        self.amount_refunded = Money(row.amount_refunded, currency)


# --------------------------------------------------------------------------- writes


def order_values(priced: PricedCart) -> dict[str, Any]:
    """The order row of a priced cart."""
    cart = priced.cart
    order = {
        "cart_id": cart.id,
        "channel_id": cart.channel_id,
        "customer_id": cart.customer_id,
        "email": cart.email,
        "phone": cart.phone,
        "status": "OPEN",
        "fulfillment_status": "UNFULFILLED",
        "currency": priced.currency,
        "taxes_included": priced.taxes_included,
        "subtotal": priced.subtotal,
        "discount_total": priced.discount_total,
        "shipping_total": priced.shipping,
        "tax_total": priced.tax,
        "total": priced.total,
        "discount_codes": [c.code for c in priced.codes if c.applicable],
        "discounts": [
            {
                "promotionId": a.promotion_id,
                "title": a.title,
                "code": a.code,
                "amount": a.amount,
                "shipping": a.shipping_amount,
            }
            for a in priced.allocations
        ],
        "delivery": [
            {
                "kind": g.kind,
                "address": g.address,
                "locationId": g.location_pk,
                "option": g.selected.handle if g.selected else None,
                "shipping": g.shipping,
                "shippingDiscount": g.shipping_discount,
                "tax": g.tax,
                "lineIds": [ln.pk for ln in g.lines],
            }
            for g in priced.groups
        ],
        "attributes": list(cart.attributes or ()),
        "note": cart.note,
    }
    return order


def order_line_values(
    priced: PricedCart,
    takes: Mapping[int, list[tuple[int, int]]],
    tokens: Mapping[int, list[tuple[int, int, str]]],
) -> list[dict[str, Any]]:
    """The order lines: what was sold, at what price, from where."""
    sellable = [ln for ln in priced.lines if ln.sellable]
    group_kind = {ln.pk: g.kind for g in priced.groups for ln in g.lines}
    lines = [
        {
            "variant_id": ln.variant_pk,
            "sku": ln.sku,
            "title": ln.title[:512],
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "compare_at": ln.compare_at,
            "price_source": ln.price_source[:64],
            "subtotal": ln.subtotal,
            "discount": ln.discount,
            "tax": ln.tax,
            "total": ln.total,
            "discount_allocations": [
                {"promotionId": p, "title": t, "code": c, "amount": a}
                for p, t, c, a in ln.allocations
            ],
            "allocations": [
                {"locationId": loc, "quantity": q, "reservation": tok}
                for loc, q, tok in tokens.get(ln.pk, [])
            ]
            or [{"locationId": loc, "quantity": q} for loc, q in takes.get(ln.pk, [])],
            "delivery_kind": group_kind.get(ln.pk, "SHIPPING"),
        }
        for ln in sellable
    ]
    return lines


_INSERT_ORDER = insert(orders_t).returning(orders_t.c.id)
_NAME_ORDER = (
    update(orders_t).where(orders_t.c.id == bindparam("pk")).values(name=bindparam("name"))
)
_INSERT_LINES = insert(order_lines_t)
_INSERT_PAYMENT = insert(payments_t)


async def insert_order(
    conn: AsyncConnection,
    outbox: Outbox,
    *,
    order: dict[str, Any],
    lines: Sequence[dict[str, Any]],
    payment: PaymentIntentResult | None,
    payment_reference: str | None,
) -> int:
    """Write an order, its lines and its payment, and queue ``order.created``. An order
    paid with a test payment is a test order (``test``, also in its event)."""
    now = _now()
    status = PAYMENT_STATUS.get(payment.status, "PENDING") if payment is not None else "PAID"
    test = payment is not None and payment.test
    # Statements built once, the values passed as parameters: no construction or
    # cache key per call (the compiled form is cached per set of columns given).
    pk = (
        await conn.execute(
            _INSERT_ORDER,
            {
                **order,
                "payment_status": status,
                "test": test,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    name = order_name(pk)
    await conn.execute(_NAME_ORDER, {"pk": pk, "name": name})
    await conn.execute(_INSERT_LINES, [{**ln, "order_id": pk} for ln in lines])
    if payment is not None:
        await conn.execute(
            _INSERT_PAYMENT,
            {
                "order_id": pk,
                "provider": payment.provider,
                "intent_id": payment.id,
                "status": payment.status,
                "amount": payment.amount,
                "currency": payment.currency,
                "amount_captured": payment.amount_captured,
                "amount_refunded": payment.amount_refunded,
                "reference": payment_reference,
                "test": payment.test,
                "created_at": now,
                "updated_at": now,
            },
        )
    outbox.add(
        "order.created",
        {
            "orderId": pk,
            "id": ids.encode("Order", pk),
            "name": name,
            "channelId": order["channel_id"],
            "customerId": order.get("customer_id"),
            "currency": order["currency"],
            "total": order["total"],
            "paymentStatus": status,
            "test": test,
            "lines": [
                {"variantId": ln["variant_id"], "sku": ln["sku"], "quantity": ln["quantity"]}
                for ln in lines
            ],
            "occurredAt": now.isoformat(),
        },
    )
    return pk


def _dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


async def apply_payment_event(
    db: Database, provider: str, event: WebhookEvent
) -> tuple[str, list[Event]]:
    """Apply a verified provider webhook once. Returns ("duplicate" | "ignored" |
    "updated" | "unchanged", events to publish). The event id is recorded in the same
    transaction as its effect, so a redelivery (even a concurrent one) changes nothing."""
    outbox = Outbox()
    async with db.transaction() as conn:
        fresh = (
            await conn.execute(
                _dialect_insert(conn, webhook_events_t)
                .values(
                    provider=provider,
                    event_id=event.id[:255],
                    type=event.type[:128],
                    received_at=_now(),
                )
                .on_conflict_do_nothing(index_elements=["provider", "event_id"])
                .returning(webhook_events_t.c.event_id)
            )
        ).first()
        if fresh is None:
            return "duplicate", []
        if not event.intent_id:
            return "ignored", []
        pay = (
            await conn.execute(
                select(payments_t).where(
                    payments_t.c.provider == provider, payments_t.c.intent_id == event.intent_id
                )
            )
        ).first()
        if pay is None:
            return "ignored", []
        new_status = _status_from_event(event)
        if new_status is None:
            return "ignored", []
        order = (
            await conn.execute(
                select(orders_t.c.payment_status, orders_t.c.currency).where(
                    orders_t.c.id == pay.order_id
                )
            )
        ).one()
        if new_status not in _FORWARD.get(order.payment_status, set()):
            return "unchanged", []
        now = _now()
        values: dict[str, Any] = {"status": _provider_status(new_status), "updated_at": now}
        if new_status == "PAID":
            values["amount_captured"] = pay.amount
        await conn.execute(update(payments_t).where(payments_t.c.id == pay.id).values(**values))
        await conn.execute(
            update(orders_t)
            .where(orders_t.c.id == pay.order_id)
            .values(payment_status=new_status, updated_at=now)
        )
        outbox.add(
            "order.payment_updated",
            {
                "orderId": pay.order_id,
                "name": order_name(pay.order_id),
                "paymentStatus": new_status,
                "previous": order.payment_status,
                "eventId": event.id,
                "eventType": event.type,
            },
        )
        events = await outbox.flush(conn)
    return "updated", events


def _status_from_event(event: WebhookEvent) -> str | None:
    data = event.data
    match event.type:
        case "payment_intent.amount_capturable_updated":
            return "AUTHORIZED"
        case "payment_intent.succeeded":
            return "PAID"
        case "payment_intent.canceled":
            return "VOIDED"
        case "payment_intent.payment_failed":
            return "FAILED"
        case "charge.refunded":
            return "REFUNDED" if data.get("refunded") else "PARTIALLY_REFUNDED"
    return None


def _provider_status(order_status: str) -> str:
    return {
        "AUTHORIZED": "authorized",
        "PAID": "captured",
        "VOIDED": "canceled",
        "FAILED": "failed",
        "REFUNDED": "refunded",
        "PARTIALLY_REFUNDED": "partially_refunded",
    }.get(order_status, "processing")


# --------------------------------------------------------------------------- reads


_ORDERS_BY_PKS = select(orders_t).where(orders_t.c.id.in_(bindparam("pks", expanding=True)))


async def orders_by_pks(reader: Reader, pks: Sequence[int]) -> dict[int, OrderRecord]:
    if not pks:
        return {}
    rows = await reader.all(_ORDERS_BY_PKS, {"pks": list(set(pks))})
    return {r.id: OrderRecord(r) for r in rows}


async def lines_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[OrderLineRecord]]:
    """Every line of several orders: one statement."""
    if not orders:
        return {}
    currency = {o.pk: o.currency for o in orders}
    rows = await reader.all(
        select(order_lines_t)
        .where(order_lines_t.c.order_id.in_(list(currency)))
        .order_by(order_lines_t.c.order_id, order_lines_t.c.id)
    )
    out: dict[int, list[OrderLineRecord]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(OrderLineRecord(r, currency[r.order_id]))
    return out


async def payments_by_orders(
    reader: Reader, orders: Sequence[OrderRecord]
) -> dict[int, list[PaymentRecord]]:
    if not orders:
        return {}
    currency = {o.pk: o.currency for o in orders}
    rows = await reader.all(
        select(payments_t)
        .where(payments_t.c.order_id.in_(list(currency)))
        .order_by(payments_t.c.order_id, payments_t.c.id)
    )
    out: dict[int, list[PaymentRecord]] = defaultdict(list)
    for r in rows:
        out[r.order_id].append(PaymentRecord(r, currency[r.order_id]))
    return out


async def orders_for_customer(
    reader: Reader, customer_pk: int | None, *, limit: int, before_pk: int | None = None
) -> list[OrderRecord]:
    """Newest first; ``customer_pk`` None lists every order (staff)."""
    stmt = select(orders_t)
    if customer_pk is not None:
        stmt = stmt.where(orders_t.c.customer_id == customer_pk)
    if before_pk is not None:
        stmt = stmt.where(orders_t.c.id < before_pk)
    rows = await reader.all(stmt.order_by(orders_t.c.id.desc()).limit(limit))
    return [OrderRecord(r) for r in rows]

"""How payment events move an order.

Payment status only moves forward (PENDING -> AUTHORIZED -> PAID -> PARTIALLY_REFUNDED
-> REFUNDED; PENDING/AUTHORIZED -> VOIDED or FAILED), so a late or replayed webhook
never undoes a newer state. A verified provider webhook applies once: its event id is
recorded in the same transaction as its effect, so a redelivery (even a concurrent
one) changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import WebhookEvent
from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import orders_t, payments_t, webhook_events_t
from hub.domain import loyalty
from hub.domain.orders.records import order_name
from hub.events.bus import Event
from hub.events.outbox import Outbox

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
# The order's payment status -> the provider's, as the payment row keeps it.
_PROVIDER_STATUS = {
    "AUTHORIZED": "authorized",
    "PAID": "captured",
    "VOIDED": "canceled",
    "FAILED": "failed",
    "REFUNDED": "refunded",
    "PARTIALLY_REFUNDED": "partially_refunded",
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

Outcome = Literal["duplicate", "ignored", "updated", "unchanged"]


def _now() -> datetime:
    return datetime.now(UTC)


async def record_payment_event(
    conn: AsyncConnection, outbox: Outbox, provider: str, event: WebhookEvent
) -> Outcome:
    """Apply a verified provider webhook in the caller's transaction, once; queue
    ``order.payment_updated`` in ``outbox`` when it changed the order."""
    fresh = (
        await conn.execute(
            dialect_insert(conn, webhook_events_t)
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
        return "duplicate"
    if not event.intent_id:
        return "ignored"
    pay = (
        await conn.execute(
            select(payments_t).where(
                payments_t.c.provider == provider, payments_t.c.intent_id == event.intent_id
            )
        )
    ).first()
    new_status = _status_from_event(event) if pay is not None else None
    if pay is None or new_status is None:
        return "ignored"
    order = (
        await conn.execute(
            select(orders_t.c.payment_status, orders_t.c.currency, orders_t.c.customer_id).where(
                orders_t.c.id == pay.order_id
            )
        )
    ).one()
    if new_status not in _FORWARD.get(order.payment_status, set()):
        return "unchanged"
    now = _now()
    values: dict[str, Any] = {
        "status": _PROVIDER_STATUS.get(new_status, "processing"),
        "updated_at": now,
    }
    if new_status == "PAID":
        values["amount_captured"] = pay.amount
    await conn.execute(update(payments_t).where(payments_t.c.id == pay.id).values(**values))
    await conn.execute(
        update(orders_t)
        .where(orders_t.c.id == pay.order_id)
        .values(payment_status=new_status, updated_at=now)
    )
    if order.customer_id is not None:
        await _loyalty(conn, outbox, pay, new_status, event)
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
    return "updated"


async def _loyalty(
    conn: AsyncConnection, outbox: Outbox, pay: Any, new_status: str, event: WebhookEvent
) -> None:
    """The customer earns when the payment is captured, and gives the points back when
    it is refunded in full (a partial refund's amount comes with the refunds of the
    orders to come, which call :func:`hub.domain.loyalty.reverse_for_refund` with it)."""
    if new_status == "PAID":
        await loyalty.earn_for_payment(conn, pay.order_id, pay.amount, outbox=outbox)
    elif new_status == "REFUNDED":
        await loyalty.reverse_for_refund(
            conn, pay.order_id, pay.amount, key=f"refund:{event.id}"[:255], outbox=outbox
        )


async def apply_payment_event(
    db: Database, provider: str, event: WebhookEvent
) -> tuple[Outcome, list[Event]]:
    """:func:`record_payment_event` in a transaction of its own. Returns
    ("duplicate" | "ignored" | "updated" | "unchanged", events to publish)."""
    outbox = Outbox()
    async with db.transaction() as conn:
        outcome = await record_payment_event(conn, outbox, provider, event)
        if outcome != "updated":
            return outcome, []
        events = await outbox.flush(conn)
    return outcome, events


def _status_from_event(event: WebhookEvent) -> str | None:
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
            return "REFUNDED" if event.data.get("refunded") else "PARTIALLY_REFUNDED"
    return None

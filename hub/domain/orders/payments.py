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

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import WebhookEvent
from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import order_txns_t, payments_t, webhook_events_t
from hub.domain.orders.points import loyalty_follows
from hub.domain.orders.records import order_name
from hub.domain.orders.transitions import lock_order, refresh
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
    change = _change_from_event(event, pay) if pay is not None else None
    if pay is None or change is None:
        return "ignored"
    order = await lock_order(conn, pay.order_id)
    new_status = _status_from_event(event)
    if new_status is not None and new_status not in _FORWARD.get(order.payment_status, set()):
        return "unchanged"
    values, moved = change
    if not values:
        return "unchanged"
    now = _now()
    await conn.execute(
        update(payments_t).where(payments_t.c.id == pay.id).values(**values, updated_at=now)
    )
    for kind, amount in moved:
        # Money moved on the provider's side (its dashboard, a dispute): recorded once,
        # keyed by the event.
        await conn.execute(
            insert(order_txns_t).values(
                order_id=pay.order_id, payment_id=pay.id, kind=kind, provider=provider,
                status="SUCCESS", amount=amount, currency=pay.currency, reference=event.id[:255],
                actor=f"{provider} webhook", idempotency_key=f"webhook:{event.id}:{kind}"[:255],
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await loyalty_follows(conn, outbox, pay.order_id, kind, amount, f"webhook:{event.id}")
    previous = order.payment_status
    _, status, _ = await refresh(conn, outbox, order, actor=f"{provider} webhook")
    if status == previous:
        return "unchanged"
    outbox.add(
        "order.payment_updated",
        {
            "orderId": pay.order_id,
            "name": order_name(pay.order_id),
            "paymentStatus": status,
            "previous": previous,
            "eventId": event.id,
            "eventType": event.type,
        },
    )
    return "updated"


async def apply_payment_event(
    db: Database, provider: str, event: WebhookEvent
) -> tuple[Outcome, list[Event]]:
    """:func:`record_payment_event` in a transaction of its own. Returns
    ("duplicate" | "ignored" | "updated" | "unchanged", events to publish)."""
    outbox = Outbox()
    async with db.transaction() as conn:
        outcome = await record_payment_event(conn, outbox, provider, event)
        events = await outbox.flush(conn)
    return outcome, events


def _status_from_event(event: WebhookEvent) -> str | None:
    """The order payment status an event announces (None: whatever the money says)."""
    match event.type:
        case "payment_intent.amount_capturable_updated":
            return "AUTHORIZED"
        case "payment_intent.succeeded" | "charge.captured":
            return "PAID"
        case "payment_intent.canceled":
            return "VOIDED"
        case "payment_intent.payment_failed":
            return "FAILED"
    return None


def _int(data: Any, name: str) -> int | None:
    v = data.get(name)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _change_from_event(
    event: WebhookEvent, pay: Any
) -> tuple[dict[str, Any], list[tuple[str, int]]] | None:
    """What an event changes on the payment row (values), and the money it says moved
    ([(transaction kind, amount)]); None for an event that concerns no payment state.
    Amounts are the provider's, in the hub's minor units for every currency whose
    digits agree (all but a handful; see connectors.payments.stripe_provider), and
    only ever move forward."""
    d = event.data
    values: dict[str, Any] = {}
    moved: list[tuple[str, int]] = []
    match event.type:
        case "payment_intent.amount_capturable_updated":
            if pay.status in ("processing", "requires_action"):
                values["status"] = "authorized"
        case "payment_intent.succeeded" | "charge.captured":
            got = _int(
                d, "amount_received" if d.get("object") == "payment_intent" else "amount_captured"
            )
            captured = min(pay.amount, got if got is not None else pay.amount)
            if pay.status in ("processing", "requires_action", "authorized"):
                values["status"] = "captured"
            if captured > pay.amount_captured:
                values["amount_captured"] = captured
                moved.append(("CAPTURE", captured - pay.amount_captured))
        case "payment_intent.canceled":
            if pay.status in ("processing", "requires_action", "authorized"):
                values["status"] = "canceled"
                moved.append(("VOID", pay.amount - pay.amount_captured))
        case "payment_intent.payment_failed":
            if pay.status in ("processing", "requires_action", "authorized"):
                values["status"] = "failed"
        case "charge.refunded":
            amount, cap, ref = (
                _int(d, "amount"),
                _int(d, "amount_captured"),
                _int(d, "amount_refunded"),
            )
            captured = pay.amount_captured or pay.amount
            if ref is not None and amount is not None and cap is not None:
                refunded = min(captured, max(0, ref - (amount - cap)))  # less the released part
            else:
                refunded = captured if d.get("refunded") else pay.amount_refunded
            if not pay.amount_captured:
                values["amount_captured"] = captured
            if refunded > pay.amount_refunded:
                values["amount_refunded"] = refunded
                values["status"] = "refunded" if refunded >= captured else "partially_refunded"
                moved.append(("REFUND", refunded - pay.amount_refunded))
        case _:
            return None
    return values, moved

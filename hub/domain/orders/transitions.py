"""The order state machine: who may move an order, and how its statuses follow.

Every transition is a domain function in this package (capture, cancel, refund,
import, a payment webhook; fulfilment and returns in theirs) that first takes the
order's row lock (:func:`lock_order`: one UPDATE, so two writers of one order queue on
both databases), checks its preconditions (an illegal one raises a ``DomainError``
with a stable :class:`OrderCode`, before anything is written, and the transaction
rolls back), writes, then calls :func:`refresh`: the payment and fulfillment statuses
are derived again from the money and the unit counts
(:func:`hub.domain.orders.state.payment_status` / ``fulfillment_status``), written
when they changed, and each change appended to the timeline with its outbox event
(``order.paid``, ``order.partially_paid``, ``order.refunded``, ...).

The order status: OPEN -> CANCELLED (``cancel``, only while nothing was fulfilled) and
OPEN -> CLOSED (when nothing is left to do: every unit fulfilled or cancelled and the
money settled, i.e. PAID, REFUNDED, PARTIALLY_REFUNDED or VOIDED). CANCELLED and
CLOSED are final for this version: a CLOSED order still takes refunds and returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import order_lines_t, orders_t, payments_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.orders.records import OrderCode
from hub.domain.orders.state import (
    FulfillmentStatus,
    OrderStatus,
    PaymentStatus,
    fulfillment_status,
    payment_status,
)
from hub.domain.orders.timeline import record_event
from hub.events.outbox import Outbox

_LOCK = (
    update(orders_t)
    .where(orders_t.c.id == bindparam("pk"))
    .values(updated_at=bindparam("now"))
    .returning(*orders_t.c)
)

# Statuses of the order's payment status that need nothing more from anyone.
SETTLED = {
    PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.VOIDED,
}
# Provider statuses of a payment whose authorization is finished (captured once).
FINAL = ("captured", "partially_refunded", "refunded")


def now() -> datetime:
    return datetime.now(UTC)


async def lock_order(conn: AsyncConnection, order_pk: int) -> Any:
    """The order's row, locked for this transaction (NOT_FOUND without one). The lock is
    a write (``updated_at``), so SQLite takes its write lock here too, before any read
    a decision depends on."""
    row = (await conn.execute(_LOCK, {"pk": order_pk, "now": now()})).first()
    if row is None:
        raise fail(Code.NOT_FOUND, "no order with that id", "order_id")
    return row


def illegal(message: str, *path: str) -> DomainError:
    return fail(OrderCode.ILLEGAL_TRANSITION, message, *(path or ("order_id",)))


def require_open(order: Any, doing: str) -> None:
    if order.status != OrderStatus.OPEN:
        raise illegal(f"the order is {order.status.lower()}: it can't be {doing}")


@dataclass(frozen=True, slots=True)
class Money:
    """An order's money over its payments: authorized (what may still be or was taken),
    captured, refunded, and whether every authorization was voided."""

    authorized: int
    captured: int
    refunded: int
    voided: bool


async def order_money(conn: AsyncConnection, order_pk: int) -> Money:
    rows = (
        await conn.execute(
            select(
                payments_t.c.status,
                payments_t.c.amount,
                payments_t.c.amount_captured,
                payments_t.c.amount_refunded,
            ).where(payments_t.c.order_id == order_pk)
        )
    ).all()
    authorized = captured = refunded = 0
    live = 0
    for r in rows:
        if r.status in ("failed",):
            continue
        if r.status == "canceled" and r.amount_captured == 0:
            continue
        live += 1
        # A payment captured once is worth what it captured (the rest was released).
        authorized += r.amount_captured if r.status in FINAL else r.amount
        captured += r.amount_captured
        refunded += r.amount_refunded
    voided = bool(rows) and live == 0 and any(r.status == "canceled" for r in rows)
    return Money(authorized, captured, refunded, voided)


async def unit_counts(conn: AsyncConnection, order_pk: int) -> dict[str, int]:
    c = order_lines_t.c
    row = (
        await conn.execute(
            select(
                func.coalesce(func.sum(c.quantity), 0).label("ordered"),
                func.coalesce(func.sum(c.quantity_cancelled), 0).label("cancelled"),
                func.coalesce(func.sum(c.quantity_fulfilled), 0).label("fulfilled"),
                func.coalesce(func.sum(c.quantity_returned), 0).label("returned"),
            ).where(c.order_id == order_pk)
        )
    ).one()
    return {k: int(getattr(row, k)) for k in ("ordered", "cancelled", "fulfilled", "returned")}


_PAYMENT_EVENTS = {
    PaymentStatus.PAID: "order.paid",
    PaymentStatus.PARTIALLY_PAID: "order.partially_paid",
    PaymentStatus.REFUNDED: "order.refunded",
    PaymentStatus.PARTIALLY_REFUNDED: "order.partially_refunded",
    PaymentStatus.VOIDED: "payment.voided",
}


async def refresh(
    conn: AsyncConnection,
    outbox: Outbox,
    order: Any,
    *,
    actor: str = "system",
    status: str | None = None,
) -> tuple[str, str, str]:
    """Derive the order's payment and fulfillment status from its payments and lines
    and write what changed (``status``: a new order status, e.g. CANCELLED), with a
    timeline entry and outbox event per change. Returns (status, payment status,
    fulfillment status) as written."""
    money = await order_money(conn, order.id)
    counts = await unit_counts(conn, order.id)
    pay = payment_status(
        authorized=money.authorized,
        captured=money.captured,
        refunded=money.refunded,
        voided=money.voided,
    ).value
    if (
        money.authorized == 0
        and money.captured == 0
        and order.payment_status
        in (
            PaymentStatus.PAID,
            PaymentStatus.FAILED,
        )
    ):
        pay = order.payment_status  # nothing to pay (a free order), or never paid
    ful = fulfillment_status(**counts).value
    new_status = status or order.status
    if (
        new_status == OrderStatus.OPEN
        and counts["ordered"] > 0
        and counts["fulfilled"] + counts["cancelled"] >= counts["ordered"]
        and pay in SETTLED
    ):
        new_status = OrderStatus.CLOSED.value
    values: dict[str, Any] = {}
    if pay != order.payment_status:
        values["payment_status"] = pay
    if ful != order.fulfillment_status:
        values["fulfillment_status"] = ful
    if new_status != order.status:
        values["status"] = new_status
        if new_status == OrderStatus.CLOSED:
            values["closed_at"] = now()
    if values:
        await conn.execute(update(orders_t).where(orders_t.c.id == order.id).values(**values))
    data = {"paymentStatus": pay, "fulfillmentStatus": ful, "status": new_status}
    if "payment_status" in values:
        kind = _PAYMENT_EVENTS.get(PaymentStatus(pay), "order.payment_updated")
        await record_event(
            conn,
            order.id,
            kind,
            actor=actor,
            message=f"payment {order.payment_status} -> {pay}",
            data={**data, "previous": order.payment_status, **money_data(money)},
            outbox=outbox,
        )
    if values.get("status") == OrderStatus.CLOSED:
        await record_event(
            conn, order.id, "order.closed", actor=actor, message="nothing left to do",
            data=data, outbox=outbox,
        )  # fmt: skip
    if "fulfillment_status" in values and ful in (
        FulfillmentStatus.FULFILLED,
        FulfillmentStatus.RETURNED,
    ):
        kind = "order.fulfilled" if ful == FulfillmentStatus.FULFILLED else "order.returned"
        await record_event(conn, order.id, kind, actor=actor, data=data, outbox=outbox)
    return new_status, pay, ful


def money_data(m: Money) -> dict[str, int]:
    return {"authorized": m.authorized, "captured": m.captured, "refunded": m.refunded}

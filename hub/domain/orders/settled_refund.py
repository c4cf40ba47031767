"""A refund paid out already, elsewhere (a till's offline return): recorded on the
order like any refund, but settled at once, with no provider call.

The refund row and its REFUND movements are written on the caller's transaction
under the order's lock: never more than was captured and not yet refunded
(REFUND_EXCEEDS_CAPTURED, nothing written); once per (order, key). Each tender goes
to the order's payments taken by the same method first (an imported payment's
reference is its method, or ``METHOD:reference``), then to the others in the order
they were taken. The payments are external (the till holds the money), so settling
them books no cash: a till's cash refund reaches its drawer through the till's own
REFUND_CASH. The order's payment status follows from its payments
(:func:`hub.domain.orders.transitions.refresh`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult
from hub.db.tables import order_lines_t, refund_lines_t, refunds_t
from hub.domain.errors import fail
from hub.domain.orders.money import (
    order_lines,
    payments_of,
    record_movement,
    settle,
    units_value,
)
from hub.domain.orders.records import OrderCode
from hub.domain.orders.refunds import existing_refund, finish_refund, refundable
from hub.domain.orders.timeline import record_event
from hub.domain.orders.transitions import lock_order, now, refresh
from hub.events.outbox import Outbox
from hub.money import format_minor

PAID_OUT = "paid out at the till"


async def claim_line_units(
    conn: AsyncConnection, order_pk: int, taxes_included: bool, variant_pk: int, q: int
) -> tuple[int, int, int] | None:
    """Count ``q`` units of the order's first line of ``variant_pk`` with room as
    refunded (one conditional UPDATE): (line pk, quantity, value), or None."""
    for ln in await order_lines(conn, order_pk):
        if ln.variant_id != variant_pk or ln.quantity_refunded + q > ln.quantity:
            continue
        bumped = await conn.execute(
            update(order_lines_t)
            .where(
                order_lines_t.c.id == ln.id,
                order_lines_t.c.quantity_refunded + q <= order_lines_t.c.quantity,
            )
            .values(quantity_refunded=order_lines_t.c.quantity_refunded + q)
        )
        if bumped.rowcount == 1:
            return ln.id, q, units_value(ln, taxes_included, ln.quantity_refunded, q)
    return None


def _method_of(payment: Any) -> str:
    return (payment.reference or "").split(":", 1)[0].upper()


async def record_settled_refund(
    conn: AsyncConnection,
    outbox: Outbox,
    order_pk: int,
    *,
    key: str,
    lines: Sequence[tuple[int, int, int]],
    tenders: Sequence[tuple[str, int]],
    note: str,
    actor: str,
) -> int | None:
    """Record a refund of ``tenders`` [(method, minor amount)] on the order, settled
    (``lines``: [(line pk, quantity, value)] already counted refunded). Its pk (the
    existing one for ``key``), or None when the tenders give nothing back."""
    order = await lock_order(conn, order_pk)
    found = await existing_refund(conn, order_pk, key)
    if found is not None:
        return int(found.id)
    total = sum(a for _, a in tenders if a > 0)
    if total <= 0:
        return None
    left = await refundable(conn, order_pk)
    if total > left:
        raise fail(
            OrderCode.REFUND_EXCEEDS_CAPTURED,
            f"at most {format_minor(left, order.currency)} may be refunded on the sale "
            "(paid and not yet refunded)",
            "payments",
        )
    at = now()
    refund_pk = (
        await conn.execute(
            insert(refunds_t)
            .values(
                order_id=order_pk, idempotency_key=key[:255], amount=total, shipping=0,
                status="PENDING", note=note[:2000], actor=actor[:128], created_at=at,
                updated_at=at,
            )
            .returning(refunds_t.c.id)
        )
    ).scalar_one()  # fmt: skip
    if lines:
        await conn.execute(
            insert(refund_lines_t),
            [
                {"refund_id": refund_pk, "order_line_id": pk, "quantity": q, "amount": v}
                for pk, q, v in lines
            ],
        )
    await _pay_back(conn, order, refund_pk, tenders, actor)
    await finish_refund(conn, refund_pk)
    await record_event(
        conn, order_pk, "refund.created", actor=actor,
        message=f"refund of {total} {order.currency} ({PAID_OUT})",
        data={"refundId": refund_pk, "amount": total}, outbox=outbox,
    )  # fmt: skip
    await refresh(conn, outbox, order, actor=actor)
    return int(refund_pk)


async def _pay_back(
    conn: AsyncConnection, order: Any, refund_pk: int, tenders: Sequence[tuple[str, int]],
    actor: str,
) -> None:  # fmt: skip
    """Each tender to the payments of its method first, then to the others; every
    movement settled as given back already."""
    pays = await payments_of(conn, order.id)
    given = {p.id: 0 for p in pays}
    for i, (method, amount) in enumerate(tenders):
        want = amount
        ranked = sorted(pays, key=lambda p: (_method_of(p) != method.upper(), p.id))
        for p in ranked:
            room = p.amount_captured - p.amount_refunded - given[p.id]
            take = min(room, want)
            if take <= 0:
                continue
            m = await record_movement(
                conn, order, p, "REFUND", take, f"refund:{refund_pk}:{p.id}:{i}",
                actor=actor, refund_pk=refund_pk, reference=method[:32],
            )  # fmt: skip
            result = PaymentIntentResult(
                provider=p.provider, id=p.intent_id, status="captured", amount=take,
                currency=order.currency, amount_captured=0, amount_refunded=take,
                failure_code=None, failure_message=PAID_OUT, raw_status="recorded",
            )  # fmt: skip
            await settle(conn, m, result, None, actor=actor)
            given[p.id] += take
            want -= take
            if want <= 0:
                break

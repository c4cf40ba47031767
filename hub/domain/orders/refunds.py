"""Refunds: what a refund gives back (lines, shipping, or an amount), checked and
recorded under the order's lock, then paid back to the original payment methods in
the order they were taken (:mod:`hub.domain.orders.money` records each as a PENDING
REFUND movement before the provider is called).

Rules: never more than was captured and not yet refunded (PENDING refunds count as
given back), so of two concurrent refunds of the whole order one is refused
(REFUND_EXCEEDS_CAPTURED); one refund per (order, idempotency key): the same key
returns the first refund (a concurrent duplicate waits on the order's lock, then
finds it). Refunded units move ``order_lines.quantity_refunded`` with one conditional
UPDATE each (QUANTITY_EXCEEDS_REMAINING past the line's quantity); a line's units
are worth their share of the line's total with tax (``money.units_value``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import order_lines_t, order_txns_t, refund_lines_t, refunds_t
from hub.domain.errors import Code, fail
from hub.domain.orders.money import (
    Movement,
    as_movement,
    movements_with_key,
    order_lines,
    payments_of,
    pending_by_payment,
    record_movement,
    units_value,
)
from hub.domain.orders.records import OrderCode
from hub.domain.orders.transitions import now
from hub.money import format_minor

OFFLINE = ("cash", "terminal")


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > 200 or any(ord(c) < 32 for c in key):
        raise fail(
            Code.INVALID,
            "idempotencyKey is 1 to 200 characters, without control characters",
            "idempotency_key",
        )
    return key


async def existing_refund(conn: AsyncConnection, order_pk: int, key: str) -> Any | None:
    return (
        await conn.execute(
            select(refunds_t).where(
                refunds_t.c.order_id == order_pk, refunds_t.c.idempotency_key == key
            )
        )
    ).first()


async def open_movements(conn: AsyncConnection, order_pk: int, refund_pk: int) -> list[Movement]:
    rows = await movements_with_key(conn, order_pk, f"refund:{refund_pk}:")
    return [as_movement(r) for r in rows if r.status == "PENDING"]


async def refundable(conn: AsyncConnection, order_pk: int) -> int:
    """Captured and not yet refunded (or being refunded), over the order's payments."""
    pending = await pending_by_payment(conn, order_pk)
    return sum(
        max(0, p.amount_captured - p.amount_refunded - pending[(p.id, "REFUND")])
        for p in await payments_of(conn, order_pk)
    )


async def plan_refund(
    conn: AsyncConnection,
    order: Any,
    *,
    lines: Sequence[tuple[int, int]],
    shipping: int,
    amount: int | None,
    note: str | None,
    key: str,
    actor: str,
    return_pk: int | None,
) -> tuple[int, list[Movement], bool]:
    """Record the refund and its PENDING movements (see the module docstring).
    Returns (refund pk, movements to make, created): an existing refund of this key
    comes back with the movements it still has open."""
    found = await existing_refund(conn, order.id, key)
    if found is not None:
        return found.id, await open_movements(conn, order.id, found.id), False
    if shipping < 0:
        raise fail(Code.INVALID, "shipping can't be negative", "shipping")
    if amount is not None and amount <= 0:
        raise fail(Code.INVALID, "amount must be above 0", "amount")
    if note is not None and len(note) > 2000:
        raise fail(Code.INVALID, "note is at most 2000 characters", "note")
    by_pk = {ln.id: ln for ln in await order_lines(conn, order.id)}
    line_amounts: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    for i, (line_pk, qty) in enumerate(lines):
        ln = by_pk.get(line_pk)
        if ln is None or line_pk in seen:
            raise fail(Code.INVALID, "not a line of this order (or named twice)", "lines", str(i))
        seen.add(line_pk)
        if qty <= 0:
            raise fail(Code.INVALID, "quantity must be above 0", "lines", str(i), "quantity")
        bumped = await conn.execute(
            update(order_lines_t)
            .where(
                order_lines_t.c.id == line_pk,
                order_lines_t.c.quantity_refunded + qty <= order_lines_t.c.quantity,
            )
            .values(quantity_refunded=order_lines_t.c.quantity_refunded + qty)
        )
        if bumped.rowcount != 1:
            left = ln.quantity - ln.quantity_refunded
            raise fail(
                OrderCode.QUANTITY_EXCEEDS_REMAINING,
                f"only {left} unit(s) of this line are left to refund",
                "lines",
                str(i),
                "quantity",
            )
        value = units_value(ln, order.taxes_included, ln.quantity_refunded, qty)
        line_amounts.append((line_pk, qty, value))
    if shipping:
        given = (
            await conn.execute(
                select(func.coalesce(func.sum(refunds_t.c.shipping), 0)).where(
                    refunds_t.c.order_id == order.id, refunds_t.c.status != "FAILED"
                )
            )
        ).scalar_one()
        if shipping > order.shipping_total - int(given):
            raise fail(
                OrderCode.REFUND_EXCEEDS_CAPTURED,
                f"only {format_minor(order.shipping_total - int(given), order.currency)} "
                "of shipping is left to refund",
                "shipping",
            )
    total = amount if amount is not None else sum(v for _, _, v in line_amounts) + shipping
    if total <= 0:
        raise fail(
            OrderCode.NOTHING_TO_REFUND,
            "nothing to refund: pass lines, shipping or an amount",
            "amount",
        )
    left = await refundable(conn, order.id)
    if total > left:
        raise fail(
            OrderCode.REFUND_EXCEEDS_CAPTURED,
            f"at most {format_minor(left, order.currency)} may be refunded (captured and not "
            "yet refunded)",
            "amount" if amount is not None else "lines",
        )
    at = now()
    refund_pk = (
        await conn.execute(
            insert(refunds_t)
            .values(
                order_id=order.id,
                idempotency_key=key,
                return_id=return_pk,
                amount=total,
                shipping=shipping,
                status="PENDING",
                note=note,
                actor=actor[:128],
                created_at=at,
                updated_at=at,
            )
            .returning(refunds_t.c.id)
        )
    ).scalar_one()
    if line_amounts:
        await conn.execute(
            insert(refund_lines_t),
            [
                {"refund_id": refund_pk, "order_line_id": pk, "quantity": q, "amount": v}
                for pk, q, v in line_amounts
            ],
        )
    return refund_pk, await _allocate(conn, order, refund_pk, total, actor), True


async def _allocate(
    conn: AsyncConnection, order: Any, refund_pk: int, total: int, actor: str
) -> list[Movement]:
    """PENDING refunds of ``total`` over the payments in the order they were taken."""
    pending = await pending_by_payment(conn, order.id)
    out: list[Movement] = []
    for p in await payments_of(conn, order.id):
        left = p.amount_captured - p.amount_refunded - pending[(p.id, "REFUND")]
        take = min(left, total)
        if take <= 0:
            continue
        out.append(
            await record_movement(
                conn, order, p, "REFUND", take, f"refund:{refund_pk}:{p.id}",
                actor=actor, refund_pk=refund_pk,
                # Cash or a terminal: given back at the till that took it.
                reference=p.reference if p.provider in OFFLINE else None,
            )
        )  # fmt: skip
        total -= take
        if total <= 0:
            break
    return out


async def finish_refund(conn: AsyncConnection, refund_pk: int) -> str:
    """The refund's status from its movements: SUCCESS when all succeeded, FAILED when
    any failed (units of a refund that gave nothing back are released), else PENDING."""
    rows = (
        await conn.execute(
            select(order_txns_t.c.status, order_txns_t.c.amount).where(
                order_txns_t.c.refund_id == refund_pk, order_txns_t.c.kind == "REFUND"
            )
        )
    ).all()
    statuses = {r.status for r in rows}
    if "PENDING" in statuses:
        return "PENDING"
    status = "FAILED" if "FAILED" in statuses else "SUCCESS"
    done = await conn.execute(
        update(refunds_t)
        .where(refunds_t.c.id == refund_pk, refunds_t.c.status == "PENDING")
        .values(status=status, updated_at=now())
    )
    if done.rowcount == 1 and status == "FAILED" and "SUCCESS" not in statuses:
        for r in (
            await conn.execute(
                select(refund_lines_t).where(refund_lines_t.c.refund_id == refund_pk)
            )
        ).all():
            await conn.execute(
                update(order_lines_t)
                .where(order_lines_t.c.id == r.order_line_id)
                .values(quantity_refunded=order_lines_t.c.quantity_refunded - r.quantity)
            )
    return status

"""Money after checkout, as the order book records it: every capture, void and refund
is an ``order_transactions`` row.

A movement is recorded PENDING (with the provider idempotency key every call for it
uses) in a short transaction that holds the order's lock, *before* the provider is
called; the provider is called outside any transaction; its outcome is recorded in a
second transaction (:func:`settle`). A crash in between leaves the PENDING row, which
the reconciliation job (:func:`hub.domain.orders.service.Orders.reconcile`) replays
with the same key (providers answer a replay with the first outcome) and settles. A
PENDING row counts as taken while it is open, so two concurrent requests never
capture or refund the same money.

Partial captures and Stripe: a Stripe PaymentIntent with manual capture is captured
once; capturing part of it releases the rest of the authorization (the hub does not
request multicapture). So a capture takes, per payment, at most what the payment still
holds, and what a partial capture released is recorded as a VOID of the rest. The
order's capturable amount is the lesser of what its payments still hold and what is
still due (total, less the value of cancelled units, less what was captured): a
capture after a partial cancellation never exceeds either.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentIntentResult
from hub.db.tables import order_lines_t, order_txns_t, payments_t
from hub.domain.errors import Code, fail
from hub.domain.orders.points import loyalty_follows
from hub.domain.orders.records import OrderCode
from hub.domain.orders.transitions import now
from hub.domain.till.sales import record_cash_refund
from hub.money import format_minor

PENDING, SUCCESS, FAILED = "PENDING", "SUCCESS", "FAILED"


@dataclass(frozen=True, slots=True)
class Movement:
    """One provider call to make (or replay) for a PENDING transaction row."""

    txn_pk: int
    order_pk: int
    payment_pk: int
    provider: str
    intent_id: str
    kind: str  # CAPTURE | VOID | REFUND
    amount: int
    key: str
    refund_pk: int | None = None


def unit_value(line: Any, taxes_included: bool, units: int) -> int:
    """What the first ``units`` units of an order line are worth (after discounts, with
    tax): cumulative, so the values of its units always add up to the line's."""
    whole = line.total + (0 if taxes_included else line.tax)
    return whole * units // line.quantity if line.quantity else 0


def units_value(line: Any, taxes_included: bool, start: int, units: int) -> int:
    """The value of ``units`` units of a line after the first ``start``."""
    return unit_value(line, taxes_included, start + units) - unit_value(line, taxes_included, start)


async def order_lines(conn: AsyncConnection, order_pk: int) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(order_lines_t)
                .where(order_lines_t.c.order_id == order_pk)
                .order_by(order_lines_t.c.id)
            )
        ).all()
    )


async def payments_of(conn: AsyncConnection, order_pk: int) -> list[Any]:
    return list(
        (
            await conn.execute(
                select(payments_t)
                .where(payments_t.c.order_id == order_pk)
                .order_by(payments_t.c.id)
            )
        ).all()
    )


async def pending_by_payment(conn: AsyncConnection, order_pk: int) -> dict[tuple[int, str], int]:
    """The amounts of the order's open (PENDING) movements per (payment, kind)."""
    rows = (
        await conn.execute(
            select(order_txns_t.c.payment_id, order_txns_t.c.kind, order_txns_t.c.amount).where(
                order_txns_t.c.order_id == order_pk, order_txns_t.c.status == PENDING
            )
        )
    ).all()
    out: dict[tuple[int, str], int] = defaultdict(int)
    for r in rows:
        out[(r.payment_id, r.kind)] += r.amount
    return out


async def movements_with_key(conn: AsyncConnection, order_pk: int, prefix: str) -> list[Any]:
    """The transaction rows a request with this key prefix wrote (its replay)."""
    return list(
        (
            await conn.execute(
                select(order_txns_t, payments_t.c.intent_id)
                .join(payments_t, payments_t.c.id == order_txns_t.c.payment_id)
                .where(
                    order_txns_t.c.order_id == order_pk,
                    order_txns_t.c.idempotency_key.like(prefix + "%"),
                )
                .order_by(order_txns_t.c.id)
            )
        ).all()
    )


def as_movement(row: Any) -> Movement:
    return Movement(
        row.id,
        row.order_id,
        row.payment_id,
        row.provider,
        row.intent_id,
        row.kind,
        row.amount,
        row.idempotency_key,
        row.refund_id,
    )


async def record_movement(
    conn: AsyncConnection,
    order: Any,
    payment: Any,
    kind: str,
    amount: int,
    key: str,
    *,
    actor: str,
    refund_pk: int | None = None,
    status: str = PENDING,
    reference: str | None = None,
) -> Movement:
    at = now()
    pk = (
        await conn.execute(
            insert(order_txns_t)
            .values(
                order_id=order.id,
                payment_id=payment.id,
                refund_id=refund_pk,
                kind=kind,
                provider=payment.provider,
                status=status,
                amount=amount,
                currency=order.currency,
                reference=reference,
                actor=actor[:128],
                idempotency_key=key[:255],
                created_at=at,
                updated_at=at,
            )
            .returning(order_txns_t.c.id)
        )
    ).scalar_one()
    return Movement(
        pk, order.id, payment.id, payment.provider, payment.intent_id, kind, amount, key, refund_pk
    )


async def due(conn: AsyncConnection, order: Any, lines: Sequence[Any] | None = None) -> int:
    """What the order still asks to be paid: its total less the value of its cancelled
    units (shipping stays due while any unit is)."""
    lines = lines if lines is not None else await order_lines(conn, order.id)
    cancelled = sum(unit_value(ln, order.taxes_included, ln.quantity_cancelled) for ln in lines)
    ordered = sum(ln.quantity for ln in lines)
    if ordered and sum(ln.quantity_cancelled for ln in lines) >= ordered:
        return 0
    return max(0, order.total - cancelled)


async def plan_capture(
    conn: AsyncConnection, order: Any, amount: int | None, key: str, actor: str
) -> list[Movement]:
    """Record the PENDING captures of ``amount`` (None: all that may be captured) on the
    order's authorized payments, in order. NOTHING_TO_CAPTURE when nothing may be;
    CAPTURE_EXCEEDS_AUTHORIZATION when ``amount`` is more than may be."""
    if amount is not None and amount <= 0:
        raise fail(Code.INVALID, "amount must be above 0", "amount")
    pays = await payments_of(conn, order.id)
    pending = await pending_by_payment(conn, order.id)
    holds: list[tuple[Any, int]] = []
    for p in pays:
        if p.status != "authorized":
            continue
        held = p.amount - p.amount_captured - pending[(p.id, "CAPTURE")] - pending[(p.id, "VOID")]
        if held > 0:
            holds.append((p, held))
    captured = sum(p.amount_captured for p in pays) + sum(
        v for (_, k), v in pending.items() if k == "CAPTURE"
    )
    still_due = await due(conn, order) - captured
    limit = min(sum(h for _, h in holds), max(0, still_due))
    if limit <= 0:
        raise fail(
            OrderCode.NOTHING_TO_CAPTURE,
            "nothing left to capture: no authorization holds money still due",
            "order_id",
        )
    want = limit if amount is None else amount
    if want > limit:
        raise fail(
            OrderCode.CAPTURE_EXCEEDS_AUTHORIZATION,
            f"at most {format_minor(limit, order.currency)} may be captured (what the "
            "authorizations still hold and the order still asks for)",
            "amount",
        )
    out: list[Movement] = []
    for p, held in holds:
        take = min(held, want)
        if take <= 0:
            break
        out.append(
            await record_movement(
                conn, order, p, "CAPTURE", take, f"capture:{key}:{p.id}", actor=actor
            )
        )
        want -= take
    return out


async def plan_voids(conn: AsyncConnection, order: Any, key: str, actor: str) -> list[Movement]:
    """Record a PENDING void of every authorization that holds money not captured."""
    pending = await pending_by_payment(conn, order.id)
    out: list[Movement] = []
    for p in await payments_of(conn, order.id):
        if p.status != "authorized" or pending[(p.id, "CAPTURE")] or pending[(p.id, "VOID")]:
            continue
        held = p.amount - p.amount_captured
        if held > 0:
            out.append(
                await record_movement(
                    conn, order, p, "VOID", held, f"void:{key}:{p.id}", actor=actor
                )
            )
    return out


async def settle(
    conn: AsyncConnection,
    m: Movement,
    result: PaymentIntentResult | None,
    error: str | None,
    *,
    actor: str,
) -> bool:
    """Record a movement's outcome (``result``, or ``error`` when the provider refused)
    on its transaction row and its payment, once: False when it was settled already."""
    status = SUCCESS if result is not None and error is None else FAILED
    done = await conn.execute(
        update(order_txns_t)
        .where(order_txns_t.c.id == m.txn_pk, order_txns_t.c.status == PENDING)
        .values(
            status=status,
            error=(error or None) and error[:255],
            reference=(result.id if result is not None and m.kind != "REFUND" else None)
            or order_txns_t.c.reference,
            updated_at=now(),
        )
    )
    if done.rowcount != 1 or status == FAILED or result is None:
        return done.rowcount == 1
    pay = (await conn.execute(select(payments_t).where(payments_t.c.id == m.payment_pk))).one()
    values: dict[str, Any] = {"updated_at": now()}
    if m.kind == "CAPTURE":
        captured = max(pay.amount_captured, min(result.amount_captured, pay.amount))
        if captured == pay.amount_captured:
            captured = pay.amount_captured + m.amount  # a provider that keeps no state
        values.update(status="captured", amount_captured=captured)
        released = pay.amount - captured
        if released > 0:
            # Captured once: the rest of the authorization was released (see module doc).
            order = _OrderRef(m.order_pk, pay.currency)
            await record_movement(
                conn, order, pay, "VOID", released, f"{m.key}:released", actor=actor,
                status=SUCCESS, reference=result.id,
            )  # fmt: skip
    elif m.kind == "VOID":
        values.update(status="canceled")
    elif m.kind == "REFUND":
        refunded = pay.amount_refunded + m.amount
        values.update(
            amount_refunded=refunded,
            status="refunded" if refunded >= pay.amount_captured else "partially_refunded",
        )
    await conn.execute(update(payments_t).where(payments_t.c.id == m.payment_pk).values(**values))
    if m.kind == "REFUND" and m.provider == "cash":
        # Cash handed back at the till that sold it: out of its open session's drawer.
        await record_cash_refund(conn, m.order_pk, m.amount, f"refund-txn:{m.txn_pk}")
    if m.kind in ("CAPTURE", "REFUND"):
        await loyalty_follows(conn, None, m.order_pk, m.kind, m.amount, f"txn:{m.txn_pk}")
    return True


@dataclass(frozen=True, slots=True)
class _OrderRef:
    id: int
    currency: str

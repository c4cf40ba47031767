"""The till a sale or a refund happened at: the order's till row (for its receipt) and
its cash in the till's open session.

Checkout calls :func:`record_sale` in the order's transaction: the till is the one the
staff token was signed in at (a PIN sign-in), else the active till whose code is the
cash payment's reference (the "cash drawer id" of the cash tender). Without an open
session at that till the sale is still the till's, but no cash is booked (a till sells
with its session open; an offline sale's cash comes with the sync). A cash refund of an
order sold at a till is booked as REFUND_CASH in that till's open session.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import till_orders_t, tills_t
from hub.domain.till.cash import open_session_pk, record_cash


async def till_of_payment(conn: AsyncConnection, reference: str | None) -> int | None:
    """The one active till whose code is ``reference``, if exactly one."""
    if not reference or len(reference) > 64:
        return None
    rows = (
        await conn.execute(
            select(tills_t.c.id)
            .where(tills_t.c.code == reference.strip(), tills_t.c.active.is_(True))
            .limit(2)
        )
    ).all()
    return int(rows[0].id) if len(rows) == 1 else None


async def record_sale(
    conn: AsyncConnection,
    order_pk: int,
    till_pk: int,
    *,
    staff_pk: int | None,
    cash: int = 0,
    change: int = 0,
) -> int | None:
    """The order was sold at ``till_pk``; ``cash`` tendered (and ``change`` given) go in
    the till's open session. The session's pk, or None when none is open."""
    session_pk = await open_session_pk(conn, till_pk)
    await conn.execute(
        insert(till_orders_t).values(
            order_id=order_pk, till_id=till_pk, session_id=session_pk, staff_user_id=staff_pk
        )
    )
    if session_pk is None:
        return None
    if cash > 0:
        await record_cash(
            conn,
            till_pk,
            "SALE_CASH",
            cash,
            order_pk=order_pk,
            staff_user_pk=staff_pk,
            session_pk=session_pk,
            client_txn_id=f"order:{order_pk}:cash",
        )
    if change > 0:
        await record_cash(
            conn,
            till_pk,
            "CHANGE",
            change,
            order_pk=order_pk,
            staff_user_pk=staff_pk,
            session_pk=session_pk,
            client_txn_id=f"order:{order_pk}:change",
        )
    return session_pk


async def record_cash_refund(
    conn: AsyncConnection, order_pk: int, amount: int, txn_key: str
) -> int | None:
    """Cash handed back for an order sold at a till: REFUND_CASH in that till's open
    session (once per ``txn_key``); the session's pk, or None (no till, none open)."""
    till_pk = await conn.scalar(
        select(till_orders_t.c.till_id).where(till_orders_t.c.order_id == order_pk)
    )
    if till_pk is None or amount <= 0:
        return None
    session_pk = await open_session_pk(conn, int(till_pk))
    if session_pk is None:
        return None
    await record_cash(
        conn,
        int(till_pk),
        "REFUND_CASH",
        amount,
        order_pk=order_pk,
        session_pk=session_pk,
        client_txn_id=txn_key,
    )
    return session_pk

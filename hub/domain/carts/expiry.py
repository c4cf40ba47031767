"""Abandoned carts go: what is deleted, and what is kept as the audit trail of a sale.

Deleted: an ACTIVE cart (or a COMPLETING one whose checkout lock ran out) that expired
a while ago, with its lines, delivery groups and unfinished checkout attempts (by
cascade). Such a cart holds no money and no stock (checkout's reservations are released
or expire on their own) and can't come back: every write and checkout needs an
unexpired cart. Never deleted: a COMPLETED cart, a cart an order points at, a cart with
a finished (DONE) attempt, and a cart whose checkout is still running (lock or attempt
not yet timed out). The order keeps its own copy of everything it was sold with.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import attempts_t, carts_t, orders_t


async def delete_expired_carts(
    conn: AsyncConnection, *, now: datetime, older_than: timedelta, limit: int
) -> int:
    """Delete at most ``limit`` carts that expired more than ``older_than`` before
    ``now``, in one statement; returns how many went."""
    cutoff = now - older_than
    doomed = (
        select(carts_t.c.id)
        .where(
            carts_t.c.expires_at < cutoff,
            carts_t.c.order_id.is_(None),
            or_(
                carts_t.c.status == "ACTIVE",
                and_(
                    carts_t.c.status == "COMPLETING",
                    or_(carts_t.c.locked_until.is_(None), carts_t.c.locked_until < now),
                ),
            ),
            ~select(orders_t.c.id).where(orders_t.c.cart_id == carts_t.c.id).exists(),
            ~select(attempts_t.c.key)
            .where(
                attempts_t.c.cart_id == carts_t.c.id,
                or_(attempts_t.c.status == "DONE", attempts_t.c.locked_until >= now),
            )
            .exists(),
        )
        .order_by(carts_t.c.expires_at)
        .limit(limit)
    )
    # The row conditions are repeated outside the subquery so that PostgreSQL checks
    # them again on a row another transaction just changed.
    res = await conn.execute(
        delete(carts_t).where(
            carts_t.c.id.in_(doomed.scalar_subquery()),
            carts_t.c.expires_at < cutoff,
            carts_t.c.order_id.is_(None),
            carts_t.c.status != "COMPLETED",
            or_(
                carts_t.c.status == "ACTIVE",
                carts_t.c.locked_until.is_(None),
                carts_t.c.locked_until < now,
            ),
        )
    )
    return res.rowcount or 0


async def delete_expired(
    db: Database, *, older_than: timedelta = timedelta(days=7), limit: int = 1000
) -> int:
    """:func:`delete_expired_carts` in a transaction of its own."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        return await delete_expired_carts(conn, now=now, older_than=older_than, limit=limit)

"""Points earned, reversed, redeemed, adjusted and expired, each in the caller's
transaction through :func:`hub.domain.loyalty.accounts.move`.

- :func:`earn_for_payment`: an order's customer earns on the paid amount at its
  channel's rate and rounding (checkout calls it when it writes a PAID order; a
  capture of an authorized payment calls it then);
- :func:`reverse_for_refund`: a refund takes back the points in proportion to the
  money refunded (cumulative over refunds, so rounding never drifts; never more
  than were earned, never below a zero balance);
- :func:`redeem_for_order`: checkout spends the points a cart redeemed;
- :func:`adjust`: staff add or remove points;
- :func:`expire_inactive`: the points of accounts without activity expire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import channels_t, loyalty_accounts_t, loyalty_txns_t, orders_t
from hub.domain.customers.consent import emit_marketing
from hub.domain.errors import Code, DomainError, fail
from hub.domain.loyalty.accounts import Moved, account_of, ensure_account, move
from hub.domain.loyalty.records import MAX_NOTE, MAX_POINTS, LoyaltyCode, points_for
from hub.domain.loyalty.tiers import recompute_tier
from hub.events.outbox import Outbox


def _now() -> datetime:
    return datetime.now(UTC)


_ORDER = select(
    orders_t.c.id,
    orders_t.c.customer_id,
    orders_t.c.currency,
    orders_t.c.name,
    channels_t.c.loyalty_earn_points,
    channels_t.c.loyalty_earn_per,
    channels_t.c.loyalty_rounding,
).join(channels_t, channels_t.c.id == orders_t.c.channel_id)


async def earn_for_payment(
    conn: AsyncConnection,
    order_pk: int,
    amount: int,
    *,
    key: str | None = None,
    outbox: Outbox | None = None,
    now: datetime | None = None,
) -> Moved | None:
    """The order's customer earns points on ``amount`` (minor units paid). Once per
    ``key`` (default: once per order; a caller capturing in parts passes a key per
    capture). None when nothing is earned (a guest, a zero rate, a tiny amount)."""
    order = (await conn.execute(_ORDER.where(orders_t.c.id == order_pk))).first()
    if order is None or order.customer_id is None:
        return None
    points = min(points_for(amount, order), MAX_POINTS)
    if points <= 0:
        return None
    now = now or _now()
    account = await ensure_account(conn, order.customer_id)
    moved = await move(
        conn,
        account.id,
        "EARN",
        points,
        key=key or f"earn:{order_pk}",
        order_pk=order_pk,
        amount=amount,
        currency=order.currency,
        note=f"order {order.name}",
        activity=True,
        now=now,
    )
    if not moved.replayed:
        await recompute_tier(conn, account, outbox=outbox, now=now)
        if outbox is not None:
            payload = {"orderId": order_pk, "points": points, "balance": moved.balance}
            outbox.add("loyalty.points_earned", {"customerId": order.customer_id, **payload})
            await emit_marketing(conn, outbox, order.customer_id, "points_earned", payload)
    return moved


async def reverse_for_refund(
    conn: AsyncConnection,
    order_pk: int,
    refunded_amount: int,
    *,
    key: str | None = None,
    outbox: Outbox | None = None,
    now: datetime | None = None,
) -> Moved | None:
    """Take back the points the order earned in proportion to ``refunded_amount``
    (this refund's amount, minor units). The earn rows count what was refunded and
    reversed so far: the reversed total is always floor(earned x refunded / paid),
    all of it once everything is refunded. The balance never goes below zero (points
    already spent are not clawed back; the ledger row's note says so). ``key`` makes
    one refund count once."""
    if refunded_amount <= 0:
        return None
    earns = (
        await conn.execute(
            select(loyalty_txns_t)
            .where(loyalty_txns_t.c.order_id == order_pk, loyalty_txns_t.c.kind == "EARN")
            .order_by(loyalty_txns_t.c.id)
        )
    ).all()
    if not earns:
        return None
    account_pk = earns[0].account_id
    if key is not None:
        seen = (
            await conn.execute(
                select(loyalty_txns_t).where(
                    loyalty_txns_t.c.account_id == account_pk,
                    loyalty_txns_t.c.idempotency_key == key,
                )
            )
        ).first()
        if seen is not None:
            return Moved(seen.id, seen.points, seen.balance_after, True)
    left, due = refunded_amount, 0
    for e in earns:
        paid = int(e.amount or 0)
        share = min(left, paid - e.refunded_amount)
        if share <= 0 or paid <= 0:
            continue
        left -= share
        refunded = e.refunded_amount + share
        target = e.points if refunded >= paid else e.points * refunded // paid
        got = await conn.execute(
            update(loyalty_txns_t)
            .where(
                loyalty_txns_t.c.id == e.id,
                loyalty_txns_t.c.refunded_amount == e.refunded_amount,
            )
            .values(refunded_amount=refunded, reversed_points=target)
        )
        if got.rowcount != 1:
            raise fail(Code.INVALID, "another refund of this order is being recorded", "order_id")
        due += target - e.reversed_points
    if due <= 0:
        return None
    moved = await _take_back(conn, account_pk, due, order_pk, refunded_amount, earns, key, now)
    if moved is None:
        return None
    account = (
        await conn.execute(select(loyalty_accounts_t).where(loyalty_accounts_t.c.id == account_pk))
    ).one()
    await recompute_tier(conn, account, outbox=outbox, now=now)
    return moved


async def _take_back(
    conn: AsyncConnection,
    account_pk: int,
    due: int,
    order_pk: int,
    refunded_amount: int,
    earns: Any,
    key: str | None,
    now: datetime | None,
) -> Moved | None:
    """Debit up to ``due`` points, at most the balance: a redemption committed
    meanwhile lowers it, so read it again and retry (a refused debit wrote nothing)."""
    for _ in range(5):
        balance = await conn.scalar(
            select(loyalty_accounts_t.c.points).where(loyalty_accounts_t.c.id == account_pk)
        )
        taken = min(due, int(balance or 0))
        if taken <= 0:
            return None
        note = f"refund of {refunded_amount}" + (
            f"; {due - taken} points were already spent" if taken < due else ""
        )
        try:
            return await move(
                conn,
                account_pk,
                "REVERSE",
                -taken,
                key=key,
                order_pk=order_pk,
                amount=refunded_amount,
                currency=earns[0].currency,
                note=note,
                now=now,
            )
        except DomainError:
            continue
    raise fail(Code.INVALID, "the balance keeps changing; retry the reversal", "order_id")


async def redeem_for_order(
    conn: AsyncConnection,
    customer_pk: int,
    points: int,
    *,
    order_pk: int,
    amount: int,
    currency: str,
    now: datetime | None = None,
) -> Moved:
    """Spend ``points`` for the discount ``amount`` of an order (checkout): one
    conditional UPDATE; INSUFFICIENT_POINTS when the balance no longer covers them."""
    account = await account_of(conn, customer_pk)
    if account is None:
        raise fail(LoyaltyCode.INSUFFICIENT_POINTS, "no loyalty points to redeem", "points")
    await conn.execute(
        update(orders_t).where(orders_t.c.id == order_pk).values(loyalty_points=points)
    )
    return await move(
        conn,
        account.id,
        "REDEEM",
        -points,
        key=f"redeem:{order_pk}",
        order_pk=order_pk,
        amount=amount,
        currency=currency,
        note="redeemed at checkout",
        activity=True,
        now=now,
    )


async def adjust(
    conn: AsyncConnection,
    customer_pk: int,
    points: int,
    *,
    note: str | None,
    key: str | None = None,
    outbox: Outbox | None = None,
) -> Moved:
    """Staff add (positive) or remove (negative) points, with a reason."""
    if points == 0 or abs(points) > MAX_POINTS:
        raise fail(
            Code.INVALID,
            f"points is a non-zero number of at most {MAX_POINTS} either way",
            "points",
        )
    if note is not None and len(note) > MAX_NOTE:
        raise fail(Code.TOO_LONG, f"note is longer than {MAX_NOTE} characters", "note")
    if key is not None and not 0 < len(key) <= 255:
        raise fail(Code.INVALID, "idempotencyKey is 1 to 255 characters", "idempotency_key")
    account = await ensure_account(conn, customer_pk)
    moved = await move(conn, account.id, "ADJUST", points, key=key, note=note)
    if not moved.replayed:
        await recompute_tier(conn, account, outbox=outbox)
    return moved


async def expire_inactive(
    conn: AsyncConnection, *, inactive_days: int, now: datetime | None = None, limit: int = 500
) -> int:
    """Expire the points of accounts with no earn or redeem for ``inactive_days``:
    an EXPIRE row of the whole balance each, conditional on the balance read (a
    concurrent redeem wins). How many accounts expired."""
    if not 0 < inactive_days <= 36_500:
        raise fail(Code.INVALID, "inactiveDays is 1 to 36500 (100 years)", "inactive_days")
    now = now or _now()
    cutoff = now - timedelta(days=inactive_days)
    rows = (
        await conn.execute(
            select(loyalty_accounts_t.c.id, loyalty_accounts_t.c.points)
            .where(
                loyalty_accounts_t.c.points > 0,
                loyalty_accounts_t.c.last_activity_at < cutoff,
            )
            .order_by(loyalty_accounts_t.c.id)
            .limit(limit)
        )
    ).all()
    n = 0
    for r in rows:
        expired = await _expire_one(conn, r, cutoff, inactive_days, now)
        n += int(expired)
    return n


async def _expire_one(
    conn: AsyncConnection, r: Any, cutoff: datetime, days: int, now: datetime
) -> bool:
    try:
        await move(
            conn,
            r.id,
            "EXPIRE",
            -int(r.points),
            key=f"expire:{r.id}:{now.date().isoformat()}",
            note=f"no activity for {days} days",
            now=now,
        )
    except DomainError:  # spent meanwhile (nothing written): nothing to expire now
        return False
    return True


async def merge_accounts(
    conn: AsyncConnection, keep_pk: int, merge_pk: int, *, outbox: Outbox | None = None
) -> int:
    """Move the loyalty of customer ``merge_pk`` to ``keep_pk`` (customerMerge): its
    whole ledger (so the kept history lists every earn and redeem, and tiers count
    them) and its balance; a tier set by hand carries over when the kept one has none.
    The points moved."""
    src = await account_of(conn, merge_pk)
    if src is None:
        return 0
    dst = await ensure_account(conn, keep_pk)
    t = loyalty_txns_t
    # Keys stay unique per account: the moved ones are prefixed with their old account.
    await conn.execute(
        update(t)
        .where(t.c.account_id == src.id)
        .values(
            account_id=dst.id,
            idempotency_key=func.substr(literal(f"m{src.id}:") + t.c.idempotency_key, 1, 255),
        )
    )
    a = loyalty_accounts_t
    emptied = await conn.execute(
        update(a).where(a.c.id == src.id, a.c.points == src.points).values(points=0)
    )
    if emptied.rowcount != 1:
        raise fail(Code.INVALID, "the duplicate's points moved meanwhile; retry", "merge_id")
    await conn.execute(
        update(a)
        .where(a.c.id == dst.id)
        .values(
            points=a.c.points + src.points,
            tier_override=func.coalesce(a.c.tier_override, src.tier_override),
            updated_at=_now(),
        )
    )
    account = (await conn.execute(select(a).where(a.c.id == dst.id))).one()
    await recompute_tier(conn, account, outbox=outbox)
    return int(src.points)

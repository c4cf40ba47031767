"""Tiers: the highest-ranked tier whose threshold a customer reaches, by points earned
or money spent over the tier's window; a tier staff set by hand wins while set. The
effective tier is mirrored to ``customers.loyalty_tier``, which promotions' tier
conditions read: that column is written here and nowhere else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.tables import customers_t, loyalty_accounts_t, loyalty_tiers_t, loyalty_txns_t
from hub.domain.customers.consent import emit_marketing
from hub.domain.loyalty.accounts import ensure_account
from hub.events.outbox import Outbox


def _now() -> datetime:
    return datetime.now(UTC)


def reached(tiers: list[Any], earns: list[Any], now: datetime) -> str | None:
    """The handle of the highest-ranked tier the EARN rows ``earns`` reach."""
    best: Any = None
    for t in tiers:
        since = now - timedelta(days=int(t.window_days))
        rows = [e for e in earns if _aware(e.created_at) >= since]
        if t.basis == "POINTS":
            value = sum(e.points - e.reversed_points for e in rows)
        else:
            value = sum(
                (e.amount or 0) - e.refunded_amount for e in rows if e.currency == t.currency
            )
        if value >= t.threshold and (best is None or t.rank > best.rank):
            best = t
    return best.handle if best is not None else None


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


async def recompute_tier(
    conn: AsyncConnection,
    account: Any,
    *,
    outbox: Outbox | None = None,
    now: datetime | None = None,
) -> str | None:
    """Recompute ``account``'s (a loyalty_accounts row) tier, store it, mirror the
    effective tier to the customer; a change queues ``loyalty.tier_changed`` and, with
    consent, ``marketing.tier_changed``. The effective tier."""
    now = now or _now()
    tiers = list((await conn.execute(select(loyalty_tiers_t))).all())
    computed = None
    if tiers:
        longest = max(int(t.window_days) for t in tiers)
        earns = (
            await conn.execute(
                select(loyalty_txns_t).where(
                    loyalty_txns_t.c.account_id == account.id,
                    loyalty_txns_t.c.kind == "EARN",
                    loyalty_txns_t.c.created_at >= now - timedelta(days=longest),
                )
            )
        ).all()
        computed = reached(tiers, list(earns), now)
    effective = account.tier_override or computed
    before = account.tier_override or account.tier
    if computed != account.tier:
        await conn.execute(
            update(loyalty_accounts_t)
            .where(loyalty_accounts_t.c.id == account.id)
            .values(tier=computed, updated_at=now)
        )
    await _mirror(conn, account.customer_id, effective)
    if effective != before and outbox is not None:
        payload = {"from": before, "to": effective}
        outbox.add("loyalty.tier_changed", {"customerId": account.customer_id, **payload})
        await emit_marketing(conn, outbox, account.customer_id, "tier_changed", payload)
    return effective


async def _mirror(conn: AsyncConnection, customer_pk: int, tier: str | None) -> None:
    await conn.execute(
        update(customers_t)
        .where(customers_t.c.id == customer_pk, customers_t.c.loyalty_tier.is_distinct_from(tier))
        .values(loyalty_tier=tier)
    )


async def set_tier_override(conn: AsyncConnection, customer_pk: int, tier: str | None) -> None:
    """Staff set (or, with None, clear) the customer's tier by hand: it wins over the
    rules while set (customerUpdate's ``loyaltyTier``)."""
    account = await ensure_account(conn, customer_pk)
    await conn.execute(
        update(loyalty_accounts_t)
        .where(loyalty_accounts_t.c.id == account.id)
        .values(tier_override=tier, updated_at=_now())
    )
    await _mirror(conn, customer_pk, tier or account.tier)

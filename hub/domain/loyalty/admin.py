"""Staff operations on loyalty, each in a transaction of its own (the thin service
layer): adjusting points, expiring inactive points, the tiers, and a channel's
earning rule. Each returns what it wrote and the events to publish after the commit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from hub.db.database import Database
from hub.db.dialect import dialect_insert
from hub.db.tables import channels_t, customers_t, loyalty_accounts_t, loyalty_tiers_t
from hub.domain.errors import Code, Errors, fail
from hub.domain.loyalty import ledger
from hub.domain.loyalty.records import ROUNDINGS, TierRecord
from hub.domain.loyalty.tiers import recompute_tier
from hub.events.bus import Event
from hub.events.outbox import Outbox
from hub.money import exponent

HANDLE_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
MAX_WINDOW_DAYS = 3660
MAX_RATE = 1_000_000


async def adjust_points(
    db: Database, customer_pk: int, points: int, note: str | None, key: str | None
) -> tuple[int, list[Event]]:
    """Add or remove points (loyaltyAdjust); the customer's pk and the events."""
    outbox = Outbox()
    async with db.transaction() as conn:
        row = (
            await conn.execute(
                select(customers_t.c.id, customers_t.c.merged_into_id).where(
                    customers_t.c.id == customer_pk
                )
            )
        ).first()
        if row is None:
            raise fail(Code.NOT_FOUND, "customer not found", "customer_id")
        if row.merged_into_id is not None:
            raise fail(
                Code.INVALID,
                "this customer was merged into another: adjust that one",
                "customer_id",
            )
        await ledger.adjust(conn, customer_pk, points, note=note, key=key, outbox=outbox)
        events = await outbox.flush(conn)
    return customer_pk, events


async def expire_points(db: Database, inactive_days: int) -> tuple[int, list[Event]]:
    async with db.transaction() as conn:
        n = await ledger.expire_inactive(conn, inactive_days=inactive_days)
    return n, []


@dataclass
class TierInput:
    handle: str
    name: str
    rank: int
    basis: str
    threshold: int
    currency: str | None = None
    window_days: int = 365


def _clean_tier(t: TierInput, errs: Errors, i: int) -> dict:
    at = str(i)
    handle = t.handle.strip().lower()
    if not HANDLE_RE.match(handle) or len(handle) > 64:
        errs.add(
            Code.INVALID, "handle: lowercase letters, digits, - and _ (64 at most)", at, "handle"
        )
    name = t.name.strip()
    if not name or len(name) > 255:
        errs.add(Code.INVALID, "name is 1 to 255 characters", at, "name")
    if t.basis not in ("POINTS", "SPEND"):
        errs.add(Code.INVALID, "basis is POINTS or SPEND", at, "basis")
    if not 0 <= t.threshold <= 2_000_000_000:
        errs.add(Code.INVALID, "threshold is 0 or more", at, "threshold")
    if not 0 < t.window_days <= MAX_WINDOW_DAYS:
        errs.add(Code.INVALID, f"windowDays is 1 to {MAX_WINDOW_DAYS}", at, "window_days")
    if not -1000 <= t.rank <= 1000:
        errs.add(Code.INVALID, "rank is -1000 to 1000", at, "rank")
    currency = (t.currency or "").strip().upper() or None
    if t.basis == "SPEND":
        try:
            exponent(currency or "")
        except Exception:
            errs.add(Code.INVALID, "a SPEND tier needs a known currencyCode", at, "currency")
    return {
        "handle": handle,
        "name": name,
        "rank": t.rank,
        "basis": t.basis,
        "threshold": t.threshold,
        "currency": currency if t.basis == "SPEND" else None,
        "window_days": t.window_days,
    }


async def set_tiers(db: Database, tiers: Sequence[TierInput]) -> list[TierRecord]:
    """Replace the tiers with ``tiers`` and recompute every account's tier."""
    errs = Errors()
    rows = [_clean_tier(t, errs, i) for i, t in enumerate(tiers)]
    if len({r["handle"] for r in rows}) != len(rows):
        errs.add(Code.TAKEN, "two tiers have the same handle", "tiers")
    errs.raise_if_any()
    outbox = Outbox()
    async with db.transaction() as conn:
        await conn.execute(loyalty_tiers_t.delete())
        if rows:
            await conn.execute(dialect_insert(conn, loyalty_tiers_t), rows)
        accounts = (await conn.execute(select(loyalty_accounts_t))).all()
        for a in accounts:
            await recompute_tier(conn, a, outbox=outbox)
        await outbox.flush(conn)
        got = (await conn.execute(select(loyalty_tiers_t).order_by(loyalty_tiers_t.c.rank))).all()
    return [TierRecord(r) for r in got]


@dataclass
class EarningRule:
    earn_points: int | None = None
    earn_per: int | None = None
    rounding: str | None = None
    point_value: int | None = None


async def set_earning_rule(db: Database, channel_pk: int, rule: EarningRule) -> int:
    """A channel's points per amount, rounding, and the value of a point."""
    errs = Errors()
    values: dict = {}
    for name, value, low in (
        ("earn_points", rule.earn_points, 0),
        ("earn_per", rule.earn_per, 1),
        ("point_value", rule.point_value, 1),
    ):
        if value is None:
            continue
        if not low <= value <= MAX_RATE:
            errs.add(Code.INVALID, f"{name} is {low} to {MAX_RATE}", name)
        values[f"loyalty_{name}"] = value
    if rule.rounding is not None:
        if rule.rounding not in ROUNDINGS:
            errs.add(Code.INVALID, "rounding is DOWN, NEAREST or UP", "rounding")
        values["loyalty_rounding"] = rule.rounding
    errs.raise_if_any()
    async with db.transaction() as conn:
        found = await conn.scalar(select(channels_t.c.id).where(channels_t.c.id == channel_pk))
        if found is None:
            raise fail(Code.NOT_FOUND, "channel not found", "channel_id")
        if values:
            await conn.execute(
                update(channels_t).where(channels_t.c.id == channel_pk).values(**values)
            )
    return channel_pk

"""Loyalty as the hub reads it: the code enum, the records, the channel's earning
rule, and the reads (accounts of many customers, a page of history of many accounts,
each in one statement)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select

from hub import ids
from hub.db.database import Reader
from hub.db.tables import loyalty_accounts_t, loyalty_tiers_t, loyalty_txns_t
from hub.domain.paging import rank_within

KINDS = ("EARN", "REDEEM", "EXPIRE", "ADJUST", "REVERSE")
ROUNDINGS = ("DOWN", "NEAREST", "UP")
MAX_POINTS = 100_000_000
MAX_NOTE = 255


class LoyaltyCode(StrEnum):
    """userErrors codes of loyalty beyond the common ones (``hub.domain.errors.Code``)."""

    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    NO_LOYALTY_ACCOUNT = "NO_LOYALTY_ACCOUNT"


class AccountRecord:
    __slots__ = (
        "card_id",
        "customer_pk",
        "id",
        "last_activity_at",
        "pk",
        "points",
        "tier",
        "tier_override",
    )

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("LoyaltyAccount", row.id)
        self.customer_pk: int = row.customer_id
        self.card_id: str = row.card_id
        self.points: int = row.points
        self.tier: str | None = row.tier_override or row.tier
        self.tier_override: str | None = row.tier_override
        self.last_activity_at = row.last_activity_at


class TransactionRecord:
    __slots__ = (
        "amount",
        "balance_after",
        "created_at",
        "currency",
        "id",
        "kind",
        "note",
        "order_pk",
        "pk",
        "points",
        "reversed_points",
    )

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("LoyaltyTransaction", row.id)
        self.kind: str = row.kind
        self.points: int = row.points
        self.balance_after: int = row.balance_after
        self.order_pk: int | None = row.order_id
        self.amount: int | None = row.amount
        self.currency: str | None = row.currency
        self.reversed_points: int = row.reversed_points
        self.note: str | None = row.note
        self.created_at = row.created_at


class TierRecord:
    __slots__ = (
        "basis",
        "currency",
        "handle",
        "id",
        "name",
        "pk",
        "rank",
        "threshold",
        "window_days",
    )

    def __init__(self, row: Any) -> None:
        self.pk: int = row.id
        self.id = ids.encode("LoyaltyTier", row.id)
        self.handle: str = row.handle
        self.name: str = row.name
        self.rank: int = row.rank
        self.basis: str = row.basis
        self.threshold: int = row.threshold
        self.currency: str | None = row.currency
        self.window_days: int = row.window_days


def points_for(amount: int, channel: Any) -> int:
    """The points ``amount`` (minor units paid) earns on ``channel`` (a channels row):
    ``loyalty_earn_points`` per ``loyalty_earn_per`` minor units, the fraction
    rounded as the channel says."""
    per, pts = int(channel.loyalty_earn_per or 0), int(channel.loyalty_earn_points or 0)
    if amount <= 0 or per <= 0 or pts <= 0:
        return 0
    whole, rest = divmod(amount * pts, per)
    rounding = channel.loyalty_rounding
    if rest and (rounding == "UP" or (rounding == "NEAREST" and 2 * rest >= per)):
        whole += 1
    return int(whole)


_ACCOUNTS_OF = select(loyalty_accounts_t).where(
    loyalty_accounts_t.c.customer_id.in_(bindparam("pks", expanding=True))
)


async def accounts_by_customers(reader: Reader, pks: Sequence[int]) -> dict[int, AccountRecord]:
    """The loyalty account of each customer that has one: one statement."""
    if not pks:
        return {}
    rows = await reader.all(_ACCOUNTS_OF, {"pks": list(set(pks))})
    return {r.customer_id: AccountRecord(r) for r in rows}


async def history_pages(
    reader: Reader, account_pks: Sequence[int], size: int, before: int | None
) -> dict[int, list[TransactionRecord]]:
    """The newest ``size`` ledger rows of each account (older than ``before``, a row
    id, when given), newest first: one statement whatever the number of accounts."""
    if not account_pks:
        return {}
    t = loyalty_txns_t
    rn = rank_within(t.c.account_id, t.c.id.desc())
    inner = select(t, rn).where(t.c.account_id.in_(list(set(account_pks))))
    if before is not None:
        inner = inner.where(t.c.id < before)
    sub = inner.subquery()
    rows = await reader.all(
        select(sub).where(sub.c.rn <= size).order_by(sub.c.account_id, sub.c.id.desc())
    )
    out: dict[int, list[TransactionRecord]] = defaultdict(list)
    for r in rows:
        out[r.account_id].append(TransactionRecord(r))
    return out


async def list_tiers(reader: Reader) -> list[TierRecord]:
    rows = await reader.all(select(loyalty_tiers_t).order_by(loyalty_tiers_t.c.rank))
    return [TierRecord(r) for r in rows]

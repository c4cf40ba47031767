"""Loyalty: a points account per customer, its ledger, the tiers, and the customer
timeline (merges, erasures).

The balance (``loyalty_accounts.points``) is integer points and never negative (a
CHECK backs the conditional UPDATE that redeems). Every change of balance appends a
row to ``loyalty_transactions`` in the same transaction with the signed delta, so the
balance can be rebuilt from the ledger (sum of ``points``). An EARN row counts what
refunds reversed of it in ``reversed_points`` (kept within the points earned) and the
money refunded against it in ``refunded_amount``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

LOYALTY_KINDS = ("EARN", "REDEEM", "EXPIRE", "ADJUST", "REVERSE", "MERGE")
TIER_BASES = ("POINTS", "SPEND")


class LoyaltyAccount(Base):
    __tablename__ = "loyalty_accounts"
    __table_args__ = (CheckConstraint("points >= 0", name="points"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    # The number on the loyalty card ("LC" + 10 digits): scanned at a till.
    card_id: Mapped[str] = mapped_column(String(32), unique=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    # The tier the rules give (recomputed on every change) and one staff set by hand
    # (wins while set); customers.loyalty_tier mirrors the effective one.
    tier: Mapped[str | None] = mapped_column(String(64))
    tier_override: Mapped[str | None] = mapped_column(String(64))
    # The last earn or redeem: inactive accounts' points expire.
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyTransaction(Base):
    __tablename__ = "loyalty_transactions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('EARN','REDEEM','EXPIRE','ADJUST','REVERSE','MERGE')", name="kind"
        ),
        CheckConstraint("points <> 0", name="points"),
        CheckConstraint("reversed_points >= 0", name="reversed_points"),
        CheckConstraint("kind <> 'EARN' OR reversed_points <= points", name="reversed_within_earn"),
        UniqueConstraint("account_id", "idempotency_key", name="uq_loyalty_transactions_key"),
        Index("ix_loyalty_transactions_account", "account_id", "id"),
        Index("ix_loyalty_transactions_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("loyalty_accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(Integer)  # signed delta
    balance_after: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    # EARN: the paid amount the points were earned on; REVERSE: the refunded amount;
    # REDEEM: the discount the points paid for (minor units of ``currency``).
    amount: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    reversed_points: Mapped[int] = mapped_column(Integer, default=0)
    refunded_amount: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoyaltyTier(Base):
    """A tier: reached with ``threshold`` points earned (POINTS) or minor units of
    ``currency`` spent (SPEND) over the last ``window_days``; the highest ``rank``
    reached wins."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        CheckConstraint("basis IN ('POINTS','SPEND')", name="basis"),
        CheckConstraint("threshold >= 0", name="threshold"),
        CheckConstraint("window_days > 0", name="window_days"),
        CheckConstraint("basis <> 'SPEND' OR currency IS NOT NULL", name="spend_currency"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    rank: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(16))
    threshold: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    window_days: Mapped[int] = mapped_column(Integer, default=365)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerEvent(Base):
    """The customer timeline: what happened to a profile (merged, erased ...)."""

    __tablename__ = "customer_events"
    __table_args__ = (
        Index("ix_customer_events_customer", "customer_id", "id"),
        UniqueConstraint("customer_id", "idempotency_key", name="uq_customer_events_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

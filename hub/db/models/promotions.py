"""Promotions: definitions, discount codes, per-customer counters and redemptions.

A promotion's rules (conditions, action, combination) are the engine's JSON
(``hub.domain.promotions.to_dict``) in ``definition``; everything that changes with
every order (uses, money given away) lives in plain integer columns, changed only by
conditional UPDATEs, and the CHECKs below make overshooting a limit impossible even
for a buggy caller. ``updated_at`` changes only when an admin edits the promotion
(never on a redemption): it is the key of the parsed-definition cache."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

PROMOTION_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED")
PROMOTION_METHODS = ("AUTOMATIC", "CODE")


def _usage_limit_checks() -> tuple[CheckConstraint, ...]:
    """The checks of a ``usage_limit`` (none, or at least 1) that ``times_used`` (never
    negative) stays within; new objects for each table (a constraint has one table)."""
    return (
        CheckConstraint("usage_limit IS NULL OR usage_limit >= 1", name="usage_limit"),
        CheckConstraint("times_used >= 0", name="times_used"),
        CheckConstraint(
            "usage_limit IS NULL OR times_used <= usage_limit", name="uses_within_limit"
        ),
    )


class Promotion(Base):
    __tablename__ = "promotions"
    __table_args__ = (
        CheckConstraint("status IN ('ACTIVE','PAUSED','ARCHIVED')", name="status"),
        CheckConstraint("method IN ('AUTOMATIC','CODE')", name="method"),
        *_usage_limit_checks(),
        CheckConstraint(
            "per_customer_limit IS NULL OR per_customer_limit >= 1", name="per_customer"
        ),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget"),
        CheckConstraint("spent >= 0", name="spent"),
        CheckConstraint("budget IS NULL OR spent <= budget", name="spent_within_budget"),
        CheckConstraint("budget IS NULL OR currency IS NOT NULL", name="budget_currency"),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window"
        ),
        Index("ix_promotions_status_method", "status", "method"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # AUTOMATIC applies by itself; CODE only when one of its discount codes is entered.
    method: Mapped[str] = mapped_column(String(16), default="AUTOMATIC")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    # {"conditions": [...], "action": {...}, "combination": {...}} in the engine's JSON.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    currency: Mapped[str | None] = mapped_column(String(3))
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    per_customer_limit: Mapped[int | None] = mapped_column(Integer)
    budget: Mapped[int | None] = mapped_column(BigInteger)  # minor units of `currency`
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiscountCode(Base):
    """A code that activates a CODE promotion. ``code`` is the normalized form
    (``normalize_code``: trimmed, casefolded) and unique across all promotions;
    ``display_code`` is the spelling the admin gave or the generator produced."""

    __tablename__ = "discount_codes"
    __table_args__ = (
        *_usage_limit_checks(),
        Index("ix_discount_codes_promotion", "promotion_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    display_code: Mapped[str] = mapped_column(String(64))
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionCustomerUsage(Base):
    """Uses of a promotion per customer key, counted by a conditional upsert so a
    per-customer limit holds under concurrent checkouts."""

    __tablename__ = "promotion_customer_usage"
    __table_args__ = (CheckConstraint("times_used >= 0", name="times_used"),)
    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True
    )
    customer_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    times_used: Mapped[int] = mapped_column(Integer, default=0)


class PromotionRedemption(Base):
    """One applied promotion on one order: the audit trail behind the counters."""

    __tablename__ = "promotion_redemptions"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_promotion_redemptions_promotion", "promotion_id", "id"),
        Index("ix_promotion_redemptions_order", "order_ref"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # RESTRICT: a promotion that was used is archived, not deleted.
    promotion_id: Mapped[int] = mapped_column(ForeignKey("promotions.id", ondelete="RESTRICT"))
    code_id: Mapped[int | None] = mapped_column(
        ForeignKey("discount_codes.id", ondelete="SET NULL")
    )
    code: Mapped[str | None] = mapped_column(String(64))  # normalized, kept if the code goes
    order_ref: Mapped[str] = mapped_column(String(128))
    customer_key: Mapped[str | None] = mapped_column(String(320))
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units of `currency`
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Price lists: per-channel prices for a customer group, with volume breaks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class PriceList(Base):
    __tablename__ = "price_lists"
    __table_args__ = (
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window"
        ),
        Index("ix_price_lists_channel_group", "channel_id", "customer_group"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    customer_group: Mapped[str] = mapped_column(String(64))
    # Always the channel's currency (checked on every write).
    currency: Mapped[str] = mapped_column(String(3))
    # Lower comes first when several of a group's lists price the same variant.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PriceListEntry(Base):
    """A variant's unit price in a list from ``min_quantity`` units up (a volume break)."""

    __tablename__ = "price_list_entries"
    __table_args__ = (
        CheckConstraint("min_quantity >= 1", name="min_quantity"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_price_list_entries_variant", "variant_id"),
    )
    price_list_id: Mapped[int] = mapped_column(
        ForeignKey("price_lists.id", ondelete="CASCADE"), primary_key=True
    )
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True
    )
    min_quantity: Mapped[int] = mapped_column(Integer, primary_key=True)
    amount: Mapped[int] = mapped_column(Integer)


class PricingGeneration(Base):
    """One row (``id`` 1): with the rows of ``pricing_changes``, the *pricing
    generation*, a number that grows with every committed change to what pricing a cart
    reads (catalog, prices, channels, shipping, promotions, customers' pricing fields).
    The triggers of migration 0031 maintain it (:mod:`hub.domain.carts.reuse` reads it,
    so that checkout reuses a cart's priced state only while nothing it read changed).
    On SQLite the triggers add to ``n``; on PostgreSQL each changing statement inserts a
    ``pricing_changes`` row instead (no row every writer must lock: two catalog writers
    never wait on each other for it), folded into ``n`` now and then."""

    __tablename__ = "pricing_generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class PricingChange(Base):
    """A statement that changed what pricing reads (PostgreSQL), not yet folded into
    ``pricing_generation.n``: see :class:`PricingGeneration`."""

    __tablename__ = "pricing_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)

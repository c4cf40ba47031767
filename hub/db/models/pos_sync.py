"""Offline till sync (``posSync``): one row per transaction a till recorded offline and
the hub accepted (the idempotency record: replaying it answers the stored result), and
the stock effects each one had at its store (how a later count and an earlier sale
arriving out of order are put in order)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class PosSyncTransaction(Base):
    __tablename__ = "pos_sync_transactions"
    __table_args__ = (
        UniqueConstraint("location_id", "till_id", "client_txn_id", name="uq_pos_sync_txn"),
        CheckConstraint(
            "kind IN ('SALE','RETURN','EXCHANGE','STOCK_COUNT','CASH_MOVEMENT')", name="kind"
        ),
        CheckConstraint("status IN ('ACCEPTED','ACCEPTED_WITH_CONFLICTS')", name="status"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    till_id: Mapped[str] = mapped_column(String(64))
    client_txn_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PosSyncStock(Base):
    """A synced transaction's stock effect on one level, at the till's local time."""

    __tablename__ = "pos_sync_stock"
    __table_args__ = (
        Index("ix_pos_sync_stock_level", "location_id", "variant_id", "occurred_at"),
        CheckConstraint("kind IN ('MOVE','COUNT')", name="kind"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sync_id: Mapped[int] = mapped_column(
        ForeignKey("pos_sync_transactions.id", ondelete="CASCADE"), index=True
    )
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(Integer)  # MOVE: the onHand delta; COUNT: counted
    occurred_at: Mapped[datetime] = mapped_column()

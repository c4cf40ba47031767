"""Backorders and pre-orders: a variant's inventory policy (sell beyond stock or not)
and the units sold beyond stock, waiting for incoming stock (issue 14, item 6)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

INVENTORY_POLICIES = ("DENY", "BACKORDER", "PREORDER")
BACKORDER_STATUSES = ("OPEN", "ALLOCATED", "CANCELLED")


class VariantInventoryPolicy(Base):
    """A variant without a row here DENIES sales beyond stock. ``backordered``: units
    sold beyond stock not yet allocated (the cap, ``backorder_limit``, bounds it)."""

    __tablename__ = "variant_inventory_policies"
    __table_args__ = (
        CheckConstraint("policy IN ('DENY','BACKORDER','PREORDER')", name="policy"),
        CheckConstraint("backorder_limit IS NULL OR backorder_limit >= 0", name="limit"),
        CheckConstraint("backordered >= 0", name="backordered"),
    )
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(String(16), default="DENY")
    expected_on: Mapped[date | None] = mapped_column(Date)
    backorder_limit: Mapped[int | None] = mapped_column(Integer)
    backordered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Backorder(Base):
    """Units of an order line sold beyond stock at a location: allocated (committed
    there) oldest first when stock is received."""

    __tablename__ = "backorders"
    __table_args__ = (
        CheckConstraint("status IN ('OPEN','ALLOCATED','CANCELLED')", name="status"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "quantity_allocated >= 0 AND quantity_allocated <= quantity", name="allocated"
        ),
        Index("ix_backorders_queue", "variant_id", "location_id", "status", "id"),
        Index("ix_backorders_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    fulfillment_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("fulfillment_orders.id", ondelete="SET NULL")
    )
    policy: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_allocated: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    allocated_at: Mapped[datetime | None] = mapped_column()

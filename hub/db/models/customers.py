"""Customers: the shopper records that pricing (customer groups) and carts look at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class Customer(Base):
    """A shopper. ``email`` is stored lowercased, so its unique constraint is
    case-insensitive on every database."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("orders_count >= 0", name="orders_count"),
        CheckConstraint("email = lower(email)", name="email_lower"),
        Index("ix_customers_group", "customer_group"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str] = mapped_column(String(255), default="")
    # The handle of the customer's group ("wholesale"): price lists target groups.
    customer_group: Mapped[str | None] = mapped_column(String(64))
    segments: Mapped[list[str]] = mapped_column(JSON, default=list)
    loyalty_tier: Mapped[str | None] = mapped_column(String(64))
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    tax_exempt_vat_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

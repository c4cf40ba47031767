"""Customers: the shopper records that pricing (customer groups) and carts look at."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String, false
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
        Index("ix_customers_phone_key", "phone_key"),
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
    # The phone's digits only: how a till or an import finds the profile by phone.
    phone_key: Mapped[str | None] = mapped_column(String(32))
    # Marketing consent: marketing events are emitted only while it is given.
    accepts_marketing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A duplicate merged into another profile (customerMerge): that profile's id.
    merged_into_id: Mapped[int | None] = mapped_column(BigInteger)
    # Personal data anonymized (customerErase) at this time.
    erased_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

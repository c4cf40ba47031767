"""Shipping zones (countries, optionally regions) and their rate tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow


class ShippingZone(Base):
    __tablename__ = "shipping_zones"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # ISO 3166-1 alpha-2 codes, e.g. ["US"].
    countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Optional ISO 3166-2 codes ("US-HI"): when given, the zone covers only these.
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShippingRate(Base):
    """One rate of a zone. ``WEIGHT`` rates apply within a weight band, ``SUBTOTAL``
    rates within a subtotal band ([min, max), open when null), ``FLAT`` rates always;
    any rate is free from ``free_over_subtotal`` up."""

    __tablename__ = "shipping_rates"
    __table_args__ = (
        CheckConstraint("kind IN ('WEIGHT','SUBTOTAL','FLAT')", name="kind"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint(
            "(min_weight_grams IS NULL AND max_weight_grams IS NULL) OR kind = 'WEIGHT'",
            name="weight_band",
        ),
        CheckConstraint(
            "(min_subtotal IS NULL AND max_subtotal IS NULL) OR kind = 'SUBTOTAL'",
            name="subtotal_band",
        ),
        CheckConstraint(
            "min_weight_grams IS NULL OR max_weight_grams IS NULL "
            "OR max_weight_grams > min_weight_grams",
            name="weight_order",
        ),
        CheckConstraint(
            "min_subtotal IS NULL OR max_subtotal IS NULL OR max_subtotal > min_subtotal",
            name="subtotal_order",
        ),
        CheckConstraint(
            "min_days IS NULL OR max_days IS NULL OR max_days >= min_days", name="days"
        ),
        Index("ix_shipping_rates_zone", "zone_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("shipping_zones.id", ondelete="CASCADE"))
    # Unique across zones, so a cart can keep the handle of the option it chose.
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(16))
    min_weight_grams: Mapped[int | None] = mapped_column(Integer)
    max_weight_grams: Mapped[int | None] = mapped_column(Integer)
    min_subtotal: Mapped[int | None] = mapped_column(Integer)
    max_subtotal: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    free_over_subtotal: Mapped[int | None] = mapped_column(Integer)
    min_days: Mapped[int | None] = mapped_column(Integer)
    max_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

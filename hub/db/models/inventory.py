"""Inventory: locations, stock levels per (variant, location), the movement ledger,
reservations, transfers, lots and serials; plus idempotency keys and the event outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

LOCATION_KINDS = ("WAREHOUSE", "STORE", "THIRD_PARTY", "DROPSHIP")
STATES = ("on_hand", "committed", "reserved", "incoming", "quarantined")


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("kind IN ('WAREHOUSE','STORE','THIRD_PARTY','DROPSHIP')", name="kind"),
        CheckConstraint("latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name="lat"),
        CheckConstraint("longitude IS NULL OR (longitude BETWEEN -180 AND 180)", name="lng"),
        CheckConstraint("pickup_lead_minutes >= 0", name="lead"),
        CheckConstraint("daily_capacity IS NULL OR daily_capacity >= 0", name="capacity"),
        CheckConstraint("cost_per_shipment >= 0", name="cost"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    address1: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(128), default="")
    region: Mapped[str] = mapped_column(String(128), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country_code: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    pickup_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    pickup_lead_minutes: Mapped[int] = mapped_column(Integer, default=120)
    ships: Mapped[bool] = mapped_column(Boolean, default=True)
    fulfillment_priority: Mapped[int] = mapped_column(Integer, default=100)
    cost_per_shipment: Mapped[int] = mapped_column(Integer, default=0)
    cost_currency: Mapped[str] = mapped_column(String(3), default="USD")
    daily_capacity: Mapped[int | None] = mapped_column(Integer)
    replenishment_lead_days: Mapped[int] = mapped_column(Integer, default=7)
    # How long a pickup order waits at this store before its stock goes back.
    pickup_window_hours: Mapped[int] = mapped_column(Integer, default=72, server_default="72")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LocationChannel(Base):
    """A location may sell (ship or hand over) to the channels listed here."""

    __tablename__ = "location_channels"
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    __table_args__ = (Index("ix_location_channels_channel", "channel_id", "location_id"),)


class InventoryLevel(Base):
    __tablename__ = "inventory_levels"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id", name="uq_inventory_levels_variant_location"),
        # onHand goes below zero only in the flagged oversold state (a till's offline
        # sale of goods that already left the store: hub.domain.inventory.oversold).
        CheckConstraint("on_hand >= 0 OR oversold_since IS NOT NULL", name="on_hand"),
        CheckConstraint("committed >= 0", name="committed"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("incoming >= 0", name="incoming"),
        CheckConstraint("quarantined >= 0", name="quarantined"),
        CheckConstraint("safety_stock >= 0", name="safety_stock"),
        CheckConstraint("reorder_point >= 0", name="reorder_point"),
        Index("ix_inventory_levels_location", "location_id", "variant_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    incoming: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    reorder_point: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when a sale took more than the level held (an offline till sale): a
    # discrepancy for staff until a count settles it.
    oversold_since: Mapped[datetime | None] = mapped_column(nullable=True)


class InventoryMovement(Base):
    """The ledger: one row per change, written in the same transaction as the level."""

    __tablename__ = "inventory_movements"
    __table_args__ = (
        Index("ix_inventory_movements_level", "variant_id", "location_id", "id"),
        Index("ix_inventory_movements_reason_time", "reason", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(64))
    d_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    d_committed: Mapped[int] = mapped_column(Integer, default=0)
    d_reserved: Mapped[int] = mapped_column(Integer, default=0)
    d_incoming: Mapped[int] = mapped_column(Integer, default=0)
    d_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    reference: Mapped[str | None] = mapped_column(String(128))
    lot_number: Mapped[str | None] = mapped_column(String(64))
    serial_number: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reservation(Base):
    """Stock held for a cart in checkout; released by a job when it expires."""

    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("status IN ('ACTIVE','RELEASED','COMMITTED','EXPIRED')", name="status"),
        Index("ix_reservations_active_expiry", "status", "expires_at"),
        Index("ix_reservations_reference", "reference"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    reference: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(Base):
    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("status IN ('IN_TRANSIT','RECEIVED','CANCELLED')", name="status"),
        CheckConstraint("from_location_id <> to_location_id", name="distinct"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    from_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    to_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(16), default="IN_TRANSIT")
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"variant_id", "quantity"}]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column()
    # Endless aisle: the fulfillment order whose units this transfer carries to its
    # pickup store.
    fulfillment_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("fulfillment_orders.id", ondelete="SET NULL")
    )


class InventoryLot(Base):
    """Quantity of one lot (batch) with an expiry date at a location."""

    __tablename__ = "inventory_lots"
    __table_args__ = (
        UniqueConstraint("variant_id", "location_id", "lot_number", name="uq_inventory_lots_key"),
        CheckConstraint("quantity >= 0", name="quantity"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    lot_number: Mapped[str] = mapped_column(String(64))
    expires_on: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer, default=0)


class InventorySerial(Base):
    """A serialised unit: on hand at one location at most, or sold."""

    __tablename__ = "inventory_serials"
    __table_args__ = (
        UniqueConstraint("variant_id", "serial_number", name="uq_inventory_serials_key"),
        CheckConstraint("status IN ('ON_HAND','SOLD','IN_TRANSIT')", name="status"),
        CheckConstraint(
            "(status = 'ON_HAND' AND location_id IS NOT NULL) OR status <> 'ON_HAND'",
            name="located",
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    serial_number: Mapped[str] = mapped_column(String(128))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(16), default="ON_HAND")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """The first result of a retried write, by client key and operation."""

    __tablename__ = "idempotency_keys"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """Events written in the transaction that caused them; published after commit,
    and swept again by the dispatcher if a process died in between. Also the log each
    process's tail follows in commit order, ``(txid, id)`` (see hub.events.outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "published_at", "id"),
        Index("ix_outbox_position", "txid", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    # The writing transaction's id on PostgreSQL, 0 on SQLite: the column's default,
    # per database (migration 0008), so that every writer sets it, raw SQL included.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())

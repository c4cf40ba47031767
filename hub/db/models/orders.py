"""Orders, their lines, payments and the provider webhook events already handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

ORDER_STATUSES = ("OPEN", "CANCELLED", "CLOSED")
PAYMENT_STATUSES = (
    "PENDING",
    "AUTHORIZED",
    "PAID",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "VOIDED",
    "FAILED",
)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('OPEN','CANCELLED','CLOSED')", name="status"),
        CheckConstraint(
            "payment_status IN ('PENDING','AUTHORIZED','PAID','PARTIALLY_REFUNDED',"
            "'REFUNDED','VOIDED','FAILED')",
            name="payment_status",
        ),
        CheckConstraint("total >= 0", name="total"),
        Index("ix_orders_customer", "customer_id", "id"),
        Index("ix_orders_cart", "cart_id"),
        # A guest's first order: has this (lowercased) email ordered before?
        Index("ix_orders_email", "email"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "#1001": 1000 + id, so unique without a counter row to contend on.
    name: Mapped[str | None] = mapped_column(String(32), unique=True)
    cart_id: Mapped[int | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    payment_status: Mapped[str] = mapped_column(String(24), default="PENDING")
    fulfillment_status: Mapped[str] = mapped_column(String(24), default="UNFULFILLED")
    currency: Mapped[str] = mapped_column(String(3))
    taxes_included: Mapped[bool] = mapped_column(Boolean, default=False)
    subtotal: Mapped[int] = mapped_column(Integer)
    discount_total: Mapped[int] = mapped_column(Integer, default=0)
    shipping_total: Mapped[int] = mapped_column(Integer, default=0)
    tax_total: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The applied promotions: [{"promotionId", "title", "code", "amount", "shipping"}].
    discounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # [{"kind", "address" | "locationId", "option", "shipping", "lineIds"}]
    delivery: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    # Paid with a test payment (no money moved): a demo or test order.
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where it was sold: "web" (a storefront or app), "store" (a till: a staff key),
    # "marketplace" (imported).
    source: Mapped[str] = mapped_column(String(16), default="web", server_default="web")
    # Loyalty points redeemed as a discount on this order.
    loyalty_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_order_lines_order", "order_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    sku: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(512))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    compare_at: Mapped[int | None] = mapped_column(Integer)
    price_source: Mapped[str] = mapped_column(String(64), default="channel")
    subtotal: Mapped[int] = mapped_column(Integer)
    discount: Mapped[int] = mapped_column(Integer, default=0)
    tax: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)
    # [{"promotionId", "title", "amount"}]
    discount_allocations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Where the units come from: [{"locationId", "quantity", "reservation"}]
    allocations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    delivery_kind: Mapped[str] = mapped_column(String(16), default="SHIPPING")


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "intent_id", name="uq_payments_provider_intent"),
        Index("ix_payments_order", "order_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    intent_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    amount_captured: Mapped[int] = mapped_column(Integer, default=0)
    amount_refunded: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str | None] = mapped_column(String(255))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentWebhookEvent(Base):
    """A provider webhook event handled once: its id is recorded in the transaction
    that applied it, so a redelivery finds it and changes nothing."""

    __tablename__ = "payment_webhook_events"
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

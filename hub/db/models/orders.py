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
    "PARTIALLY_PAID",
    "PAID",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "VOIDED",
    "FAILED",
)
FULFILLMENT_STATUSES = (
    "UNFULFILLED",
    "PARTIALLY_FULFILLED",
    "FULFILLED",
    "PARTIALLY_RETURNED",
    "RETURNED",
)
FULFILLMENT_ORDER_STATUSES = (
    "OPEN",
    "IN_PROGRESS",
    "READY_FOR_PICKUP",
    "FULFILLED",
    "CANCELLED",
    "ON_HOLD",
)
RETURN_STATUSES = (
    "REQUESTED",
    "OPEN",
    "PARTIALLY_RECEIVED",
    "RECEIVED",
    "CLOSED",
    "DECLINED",
    "CANCELLED",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in("payment_status", PAYMENT_STATUSES), name="payment_status"),
        CheckConstraint(_in("fulfillment_status", FULFILLMENT_STATUSES), name="fulfillment_status"),
        CheckConstraint("total >= 0", name="total"),
        # An order placed elsewhere (a marketplace, a legacy till) is imported once.
        UniqueConstraint("source", "external_id", name="uq_orders_source_external"),
        Index("ix_orders_created", "created_at", "id"),
        Index("ix_orders_status", "status", "id"),
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
    # Plugins' fees (hub.domain.carts.fees), in ``total``:
    # [{"code", "label", "amount", "lineId" (cart line pk or null), "source"}]; null before.
    fees: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    # Paid with a test payment (no money moved): a demo or test order.
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where the order came from: "web", "pos", "marketplace", "import", ... and, for an
    # imported order, its id there (unique per source).
    source: Mapped[str] = mapped_column(String(32), default="web", server_default="web")
    external_id: Mapped[str | None] = mapped_column(String(128))
    # The store a sale was made in (a till), if any.
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    # The routing decision: [{"fulfillmentOrderId", "locationId", "lineIds", "reason"}].
    routing: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cancel_reason: Mapped[str | None] = mapped_column(String(255))
    cancelled_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # The SHA-256 of a guest order's status token (orderByToken): the token itself is
    # given once, in checkoutComplete's answer.
    status_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
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
    # Running counts, each moved by one conditional UPDATE so two concurrent
    # fulfilments, returns or refunds can never count a unit twice.
    quantity_fulfilled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_returned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_refunded: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


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
    # Cash: what the buyer handed over (change due = tendered - amount); else null.
    tendered: Mapped[int | None] = mapped_column(Integer)
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


class OrderEvent(Base):
    """The order timeline: what happened, who did it, when, with its data. Append-only."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order", "order_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128), default="system")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderTransaction(Base):
    """Every money movement of an order, as it happened: authorizations, captures,
    voids, refunds (to a card, a gift card, or cash at a till), failed ones included."""

    __tablename__ = "order_transactions"
    __table_args__ = (
        CheckConstraint(
            _in("kind", ("AUTHORIZATION", "CAPTURE", "SALE", "VOID", "REFUND")), name="kind"
        ),
        CheckConstraint(_in("status", ("PENDING", "SUCCESS", "FAILED")), name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_order_transactions_order", "order_id", "id"),
        # One movement per key: a retried capture, void or refund finds its first row.
        Index("uq_order_transactions_key", "order_id", "idempotency_key", unique=True),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    refund_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # The provider's id of this movement (a Stripe refund id, a till's receipt number).
    reference: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(128), default="system")
    # The provider idempotency key of this movement ("capture:<key>:<payment>", ...):
    # every call for it, a replay by the reconciliation job included, uses it.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column()


class FulfillmentOrder(Base):
    """The part of an order one location fulfils (routing's decision)."""

    __tablename__ = "fulfillment_orders"
    __table_args__ = (
        CheckConstraint(_in("status", FULFILLMENT_ORDER_STATUSES), name="status"),
        CheckConstraint(_in("delivery_kind", ("SHIPPING", "PICKUP")), name="delivery_kind"),
        Index("ix_fulfillment_orders_order", "order_id", "id"),
        Index("ix_fulfillment_orders_location", "location_id", "status"),
        # The pickup-expiry job: READY_FOR_PICKUP past its deadline.
        Index("ix_fulfillment_orders_pickup_deadline", "status", "pickup_deadline"),
        # The pickup-expiry job: expired pickups whose refund is still DUE.
        Index("ix_fulfillment_orders_expiry_refund", "expiry_refund"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    status: Mapped[str] = mapped_column(String(24), default="OPEN")
    delivery_kind: Mapped[str] = mapped_column(String(16), default="SHIPPING")
    routing_reason: Mapped[str] = mapped_column(Text, default="")
    hold_reason: Mapped[str | None] = mapped_column(String(255))
    pickup_deadline: Mapped[datetime | None] = mapped_column()
    ready_at: Mapped[datetime | None] = mapped_column()
    customer_arrived_at: Mapped[datetime | None] = mapped_column()
    arrival_note: Mapped[str | None] = mapped_column(String(255))
    # The location acknowledged it (fulfillmentOrderAccept); the status a hold came
    # from (released back to it); why it was cancelled (EXPIRED, ORDER_CANCELLED, ...).
    accepted_at: Mapped[datetime | None] = mapped_column()
    held_from: Mapped[str | None] = mapped_column(String(24))
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    # An expired pickup's refund: DUE until it succeeded (DONE), the provider refused
    # it (FAILED) or the order book refused it (REFUSED); None when none was due.
    expiry_refund: Mapped[str | None] = mapped_column(String(16))
    # Endless aisle: the store the units go to (by a transfer) for the customer's
    # pickup; the fulfillment order moves there when the transfer is received.
    pickup_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FulfillmentOrderLine(Base):
    __tablename__ = "fulfillment_order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "quantity_fulfilled >= 0 AND quantity_cancelled >= 0 "
            "AND quantity_fulfilled + quantity_cancelled <= quantity",
            name="progress",
        ),
        Index("ix_fulfillment_order_lines_fo", "fulfillment_order_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfillment_order_id: Mapped[int] = mapped_column(
        ForeignKey("fulfillment_orders.id", ondelete="CASCADE")
    )
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id", ondelete="SET NULL"))
    quantity: Mapped[int] = mapped_column(Integer)
    quantity_fulfilled: Mapped[int] = mapped_column(Integer, default=0)
    quantity_cancelled: Mapped[int] = mapped_column(Integer, default=0)


class Fulfillment(Base):
    """Units that left a location: a shipment (carrier, tracking) or a pickup."""

    __tablename__ = "fulfillments"
    __table_args__ = (
        CheckConstraint(_in("kind", ("SHIPMENT", "PICKUP")), name="kind"),
        CheckConstraint(_in("status", ("SUCCESS", "CANCELLED")), name="status"),
        Index("ix_fulfillments_order", "order_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    fulfillment_order_id: Mapped[int] = mapped_column(ForeignKey("fulfillment_orders.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    kind: Mapped[str] = mapped_column(String(16), default="SHIPMENT")
    status: Mapped[str] = mapped_column(String(16), default="SUCCESS")
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    tracking_url: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FulfillmentLine(Base):
    __tablename__ = "fulfillment_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_fulfillment_lines_fulfillment", "fulfillment_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    fulfillment_id: Mapped[int] = mapped_column(ForeignKey("fulfillments.id", ondelete="CASCADE"))
    fulfillment_order_line_id: Mapped[int] = mapped_column(ForeignKey("fulfillment_order_lines.id"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    # The serial numbers of the units that left (a serial-tracked variant), else None.
    serial_numbers: Mapped[list[str] | None] = mapped_column(JSON)


class Substitution(Base):
    """A substitute staff propose for a line they cannot pick; applied only when the
    customer approves."""

    __tablename__ = "substitutions"
    __table_args__ = (
        CheckConstraint(
            _in("status", ("PROPOSED", "APPROVED", "DECLINED", "CANCELLED")), name="status"
        ),
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_substitutions_order", "order_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    fulfillment_order_line_id: Mapped[int] = mapped_column(
        ForeignKey("fulfillment_order_lines.id", ondelete="CASCADE")
    )
    original_variant_id: Mapped[int | None] = mapped_column(BigInteger)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="PROPOSED")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Refund(Base):
    """Money given back on an order, once per idempotency key."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(_in("status", ("PENDING", "SUCCESS", "FAILED")), name="status"),
        CheckConstraint("amount >= 0 AND shipping >= 0", name="amount"),
        UniqueConstraint("order_id", "idempotency_key", name="uq_refunds_order_key"),
        Index("ix_refunds_order", "order_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    return_id: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(Integer)
    shipping: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundLine(Base):
    __tablename__ = "refund_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0 AND amount >= 0", name="amount"),
        Index("ix_refund_lines_refund", "refund_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)


class Return(Base):
    """Goods coming back, at any location or by mail; resolved by a refund, store credit
    (a gift card) or an exchange (a new order)."""

    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint(_in("status", RETURN_STATUSES), name="status"),
        CheckConstraint(_in("source", ("STAFF", "CUSTOMER")), name="source"),
        Index("ix_returns_order", "order_id", "id"),
        Index("ix_returns_customer", "customer_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24), default="OPEN")
    source: Mapped[str] = mapped_column(String(16), default="STAFF")
    # Where it was opened and where the goods were received (a store, a warehouse).
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    received_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    resolution: Mapped[str | None] = mapped_column(String(16))
    refund_id: Mapped[int | None] = mapped_column(BigInteger)
    exchange_order_id: Mapped[int | None] = mapped_column(BigInteger)
    gift_card_id: Mapped[int | None] = mapped_column(BigInteger)
    # An exchange's replacement: [{"variantId": pk, "quantity": n}] (the new order's lines).
    exchange_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    amount: Mapped[int] = mapped_column(Integer, default=0)
    # Fraud flags raised (not blocking): [{"code", "message", "data"}].
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReturnLine(Base):
    __tablename__ = "return_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "quantity_restocked + quantity_quarantined + quantity_disposed <= quantity",
            name="received",
        ),
        Index("ix_return_lines_return", "return_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    reason_note: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(String(128))
    quantity_restocked: Mapped[int] = mapped_column(Integer, default=0)
    quantity_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    quantity_disposed: Mapped[int] = mapped_column(Integer, default=0)

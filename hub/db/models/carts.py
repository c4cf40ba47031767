"""Carts: server-side baskets with lines, delivery groups and checkout attempts.

A cart is found by its unguessable ``token`` (the public id); ``version`` goes up on
every change so a checkout can tell that the cart it priced is the cart it locks.
"""

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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

CART_STATUSES = ("ACTIVE", "COMPLETING", "COMPLETED")


class Cart(Base):
    __tablename__ = "carts"
    __table_args__ = (
        CheckConstraint("status IN ('ACTIVE','COMPLETING','COMPLETED')", name="status"),
        Index("ix_carts_customer", "customer_id", "updated_at"),
        Index("ix_carts_expiry", "status", "expires_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The customer the cart belongs to (a customer-scope key's customer), if any.
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    country_code: Mapped[str | None] = mapped_column(String(2))
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Loyalty points the buyer asked to redeem (cartLoyaltyRedeem); 0: none.
    loyalty_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    # While COMPLETING: until when the checkout holding it may take (a crashed one's
    # lock runs out and the cart is usable again), and that checkout's lease: only
    # the attempt holding it completes the cart (another that took over after the
    # lock ran out fences out a stalled one).
    locked_until: Mapped[datetime | None] = mapped_column()
    checkout_lease: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class CartDeliveryGroup(Base):
    """How some of a cart's lines reach the buyer: shipped to an address, or picked up
    at a location. Lines without a group belong to the cart's default shipping group."""

    __tablename__ = "cart_delivery_groups"
    __table_args__ = (
        CheckConstraint("kind IN ('SHIPPING','PICKUP')", name="kind"),
        CheckConstraint("kind <> 'PICKUP' OR location_id IS NOT NULL", name="pickup_location"),
        Index("ix_cart_delivery_groups_cart", "cart_id", "position"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    # {"firstName", "lastName", "address1", "address2", "city", "region", "postalCode",
    #  "countryCode", "phone"} for SHIPPING; null until given.
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    option_handle: Mapped[str | None] = mapped_column(String(64))
    # Endless aisle: a pickup whose store lacks a line may take it from another
    # location, transferred to the store for pickup (issue 14).
    transfer_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_cart_lines_cart", "cart_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    delivery_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("cart_delivery_groups.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckoutAttempt(Base):
    """checkoutComplete's idempotency record, per (cart, client key). PENDING while a
    checkout runs, DONE with the order it made. A running attempt holds a lease
    (``lease``, until ``locked_until``) that it renews every few seconds; once it
    lapses (the process died) a retry with the same key takes the attempt over with a
    new lease, and the old one can no longer finish it."""

    __tablename__ = "checkout_attempts"
    __table_args__ = (CheckConstraint("status IN ('PENDING','DONE')", name="status"),)
    cart_id: Mapped[int] = mapped_column(
        ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    locked_until: Mapped[datetime] = mapped_column()
    lease: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


CHECKOUT_PAYMENT_STATUSES = ("PENDING", "AUTHORIZED", "USED", "RELEASED", "FAILED")


class CheckoutPayment(Base):
    """A payment a checkout attempt takes, recorded before the provider is called.

    ``PENDING``: recorded, the provider call may have happened (outcome unknown);
    ``AUTHORIZED``: the provider holds or took the money; ``USED``: an order was
    written with it (``order_id``); ``RELEASED``: given back (voided or refunded), or
    nothing was taken; ``FAILED``: declined or refused, nothing taken. A PENDING or
    AUTHORIZED row whose attempt is no longer running is an orphan: the next checkout
    of the cart reuses it (the same way of paying: same ``fingerprint``) or releases
    it, and the reconciliation job releases what is left. ``provider_key`` is the
    idempotency key every provider call for it uses, so a replay never pays twice;
    ``locked_until`` is the claim of whoever is releasing it. ``cart_id`` has no
    foreign key: the row outlives a deleted cart, as the money trail it is."""

    __tablename__ = "checkout_payments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('PENDING','AUTHORIZED','USED','RELEASED','FAILED')", name="status"
        ),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_checkout_payments_cart", "cart_id", "status"),
        Index("ix_checkout_payments_open", "status", "updated_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(BigInteger)
    attempt_key: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(32))
    provider_key: Mapped[str] = mapped_column(String(255), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The provider's payment method id when it is no secret (a Stripe pm_...), so the
    # call can be replayed; never a gift card's code.
    payment_method: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    intent_id: Mapped[str | None] = mapped_column(String(255))
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

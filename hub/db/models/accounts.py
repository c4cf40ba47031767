"""Customer accounts: sign-in credentials, tokens, addresses and marketing consents.

Kept apart from ``customers`` (the profile every customer has): a customer made by
staff or an import has no account until it is activated; a storefront sign-up has one
from the start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

ACCOUNT_STATES = ("INVITED", "ENABLED", "DISABLED")
TOKEN_KINDS = ("access", "reset", "activation")


class CustomerAccount(Base):
    """A customer's sign-in: the argon2 hash of its password (None until activated),
    its state and when its email was verified (guest orders with that email show in
    the account's history only from then on)."""

    __tablename__ = "customer_accounts"
    __table_args__ = (CheckConstraint("state IN ('INVITED','ENABLED','DISABLED')", name="state"),)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="ENABLED")
    email_verified_at: Mapped[datetime | None] = mapped_column()
    password_changed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerToken(Base):
    """An access, password reset or activation token: only its SHA-256 is stored.
    Access tokens are revoked (sign-out, renewal, a new password); reset and
    activation tokens are used once."""

    __tablename__ = "customer_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('access','reset','activation')", name="kind"),
        Index("ix_customer_tokens_customer", "customer_id", "kind"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    # Revoked (access) or used (reset, activation): refused from then on.
    ended_at: Mapped[datetime | None] = mapped_column()


class CustomerAddress(Base):
    """A saved address; ``address`` holds the MailingAddress fields (firstName,
    address1, countryCode...) as the carts' delivery addresses do."""

    __tablename__ = "customer_addresses"
    __table_args__ = (Index("ix_customer_addresses_customer", "customer_id", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerConsent(Base):
    """One change of a marketing consent (email or SMS): granted or withdrawn, when
    and from where. The latest row of a (customer, topic) is the consent in force; the
    rows before it are its history."""

    __tablename__ = "customer_consents"
    __table_args__ = (
        CheckConstraint("topic IN ('EMAIL','SMS')", name="topic"),
        Index("ix_customer_consents_customer", "customer_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    # Where it was given: "storefront" (sign-up, profile), "staff", "checkout", "import".
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

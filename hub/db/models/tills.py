"""Tills (issue 14): the registers of a store, staff PINs, till sessions and their cash.

A till belongs to a location. A staff user may hold a PIN (argon2id, 4-8 digits) valid
at some locations; a PIN sign-in at a till gives a staff access token
(``staff_tokens.till_id``) that reaches that till's location only. A till session is
opened with a float and closed with the counted cash; every cash movement of the till
(the float, cash sales and their change, refunds in cash, cash in and out) is a row of
``till_cash_movements``, so the expected cash is their signed sum. One open session per
till: ``till_sessions.open_till_id`` is the till's id while the session is open (NULL
once closed) and is unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

CASH_KINDS = ("FLOAT", "SALE_CASH", "CHANGE", "REFUND_CASH", "CASH_IN", "CASH_OUT")


class Till(Base):
    __tablename__ = "tills"
    __table_args__ = (UniqueConstraint("location_id", "code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffPin(Base):
    """A staff user's till PIN: argon2id, the locations it works at, and the lockout."""

    __tablename__ = "staff_pins"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    pin_hash: Mapped[str] = mapped_column(String(255))
    location_ids: Mapped[list[int]] = mapped_column(JSON)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TillSession(Base):
    __tablename__ = "till_sessions"
    __table_args__ = (
        CheckConstraint("status IN ('OPEN','CLOSED')", name="status"),
        Index("ix_till_sessions_till", "till_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    till_id: Mapped[int] = mapped_column(ForeignKey("tills.id"))
    # The till's id while open, NULL once closed: unique, so one open session per till.
    open_till_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    status: Mapped[str] = mapped_column(String(8))
    opening_float: Mapped[int] = mapped_column(BigInteger)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    expected_cash: Mapped[int | None] = mapped_column(BigInteger)
    counted_cash: Mapped[int | None] = mapped_column(BigInteger)
    # counted - expected: positive over, negative short.
    over_short: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class TillCashMovement(Base):
    __tablename__ = "till_cash_movements"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('FLOAT','SALE_CASH','CHANGE','REFUND_CASH','CASH_IN','CASH_OUT')",
            name="kind",
        ),
        CheckConstraint("amount > 0", name="amount"),
        UniqueConstraint("till_id", "client_txn_id"),
        Index("ix_till_cash_movements_session", "session_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    till_id: Mapped[int] = mapped_column(ForeignKey("tills.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("till_sessions.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    client_txn_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(255))
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TillOrder(Base):
    """An order sold at a till: which till, session and staff user (for its receipt)."""

    __tablename__ = "till_orders"
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    till_id: Mapped[int] = mapped_column(ForeignKey("tills.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("till_sessions.id"))
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

"""Gift cards and their ledger.

A code is a secret, like a password: only its SHA-256 (of the normalized code) is
stored, with the last four characters to tell cards apart on screen. The balance is
integer minor units of the card's currency and never negative (a CHECK backs the
conditional UPDATE that debits it). Every change of balance appends a row to
``gift_card_transactions`` in the same transaction, so the balance can be rebuilt
from the ledger; a key makes each debit or re-credit happen once per card.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, BigId, utcnow

GIFT_CARD_STATUSES = ("ACTIVE", "DISABLED")
GIFT_CARD_TRANSACTION_KINDS = ("ISSUE", "DEBIT", "REFUND", "VOID")


class GiftCard(Base):
    __tablename__ = "gift_cards"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance"),
        CheckConstraint("initial_amount > 0", name="initial_amount"),
        CheckConstraint("status IN ('ACTIVE','DISABLED')", name="status"),
        Index("ix_gift_cards_customer", "customer_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # sha256 hex of the normalized code; the code itself is never stored.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    currency: Mapped[str] = mapped_column(String(3))
    initial_amount: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    expires_at: Mapped[datetime | None] = mapped_column()
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GiftCardTransaction(Base):
    """One change of a card's balance: ``amount`` is the signed delta (a debit is
    negative). A re-credit (REFUND, VOID) names the debit it gives back in
    ``debit_id``; the debit counts what was given back in ``returned``, which a
    conditional UPDATE keeps within what was debited."""

    __tablename__ = "gift_card_transactions"
    __table_args__ = (
        CheckConstraint("kind IN ('ISSUE','DEBIT','REFUND','VOID')", name="kind"),
        CheckConstraint("amount <> 0", name="amount"),
        CheckConstraint("returned >= 0", name="returned"),
        CheckConstraint("kind <> 'DEBIT' OR returned <= -amount", name="returned_within_debit"),
        UniqueConstraint("gift_card_id", "idempotency_key", name="uq_gift_card_transactions_key"),
        Index("ix_gift_card_transactions_card", "gift_card_id", "id"),
        # A checkout's debit found by its key alone (reconciling a crashed checkout,
        # which never stores the card's code).
        Index("ix_gift_card_transactions_idempotency_key", "idempotency_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gift_card_id: Mapped[int] = mapped_column(ForeignKey("gift_cards.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer)
    # The order, checkout or payment this moved money for.
    reference: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    debit_id: Mapped[int | None] = mapped_column(
        ForeignKey("gift_card_transactions.id", ondelete="CASCADE")
    )
    returned: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

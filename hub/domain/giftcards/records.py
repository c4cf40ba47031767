"""Gift card codes (hashed, never stored), the records the hub reads, and the codes
a refused payment answers with."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from connectors.base import PaymentStatus
from hub import ids
from hub.money import MAX_MINOR, Money

PROVIDER = "gift_card"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_RE = re.compile(r"^[A-Z0-9]{8,64}$")
_STRIP = re.compile(r"[\s-]+")
MAX_AMOUNT = MAX_MINOR  # minor units: what the balance column (32-bit) holds
MAX_REFERENCE = 255


class GiftCardCode(StrEnum):
    """userErrors codes of gift cards beyond the common ones: a refused gift card
    payment (checkout answers them)."""

    INSUFFICIENT_FUNDS = "GIFT_CARD_INSUFFICIENT_FUNDS"
    INVALID = "GIFT_CARD_INVALID"


# Provider failure codes that checkout answers as userError codes of their own.
DECLINE_CODES = frozenset({GiftCardCode.INSUFFICIENT_FUNDS, GiftCardCode.INVALID})


def normalize_code(code: str) -> str:
    """What is hashed: upper case, without spaces and dashes."""
    return _STRIP.sub("", code or "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def generate_code() -> str:
    """16 random characters of Crockford's base 32 (80 bits), in groups of four."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


class GiftCardRecord:
    __slots__ = (
        "balance",
        "created_at",
        "currency",
        "customer_pk",
        "expires_at",
        "id",
        "initial_value",
        "last4",
        "pk",
        "status",
        "updated_at",
    )

    def __init__(self, row: Any) -> None:
        self.pk = row.id
        self.id = ids.encode("GiftCard", row.id)
        self.last4 = row.last4
        self.currency = row.currency
        self.initial_value = Money(row.initial_amount, row.currency)
        self.balance = Money(row.balance, row.currency)
        self.status = row.status
        self.expires_at = row.expires_at
        self.customer_pk = row.customer_id
        self.created_at = row.created_at
        self.updated_at = row.updated_at


class GiftCardTransactionRecord:
    __slots__ = ("amount", "created_at", "id", "kind", "pk", "reference")

    def __init__(self, row: Any, currency: str) -> None:
        self.pk = row.id
        self.id = ids.encode("GiftCardTransaction", row.id)
        self.kind = row.kind
        self.amount = Money(row.amount, currency)
        self.reference = row.reference
        self.created_at = row.created_at


@dataclass(frozen=True, slots=True)
class GiftCardBalance:
    """All a code's holder learns about its card."""

    balance: Money
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class DebitState:
    """A debit as it stands: ``amount`` taken, of which ``voided`` and ``refunded``
    were given back."""

    pk: int
    gift_card_pk: int
    currency: str
    amount: int
    voided: int
    refunded: int
    replayed: bool = False

    @property
    def status(self) -> PaymentStatus:
        if self.voided + self.refunded == 0:
            return "captured"
        if self.voided >= self.amount:
            return "canceled"
        if self.voided + self.refunded >= self.amount:
            return "refunded"
        return "partially_refunded"


class GiftCardDeclined(Exception):
    """The card can't pay this: ``code`` is one of :class:`GiftCardCode`."""

    def __init__(self, code: GiftCardCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

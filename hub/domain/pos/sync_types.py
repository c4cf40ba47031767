"""What a till sends (``PosTxn``) and what each transaction answers (``TxnResult``),
the codes, the bounds and the checks that need no database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

MAX_BATCH = 100
MAX_LINES = 250
MAX_PAYMENTS = 10
MAX_CODES = 10
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$")
KINDS = ("SALE", "RETURN", "EXCHANGE", "STOCK_COUNT", "CASH_MOVEMENT")
CASH_MOVES = ("CASH_IN", "CASH_OUT")
METHODS = ("CASH", "CARD", "TERMINAL", "GIFT_CARD", "STORE_CREDIT", "OTHER")
# Within a batch, transactions apply in the till's order: by local time, and at one
# time a sale before the return or count that follows it.
KIND_ORDER = {"SALE": 0, "EXCHANGE": 1, "RETURN": 2, "CASH_MOVEMENT": 3, "STOCK_COUNT": 4}


class PosSyncCode(StrEnum):
    """Why a synced transaction was rejected, or what a conflict flags for review."""

    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    INVALID_TRANSACTION = "INVALID_TRANSACTION"
    UNKNOWN_VARIANT = "UNKNOWN_VARIANT"
    NO_CHANNEL = "NO_CHANNEL"
    ORIGINAL_NOT_SYNCED = "ORIGINAL_NOT_SYNCED"
    NOT_PERMITTED = "NOT_PERMITTED"
    UNKNOWN_TILL = "UNKNOWN_TILL"
    CASH_NOT_RECORDED = "CASH_NOT_RECORDED"
    FAILED = "FAILED"  # not applied for a reason of the hub's (logged): send it again
    # conflicts: accepted, flagged
    OVERSOLD = "OVERSOLD"
    PRICE_DIFFERS = "PRICE_DIFFERS"
    PROMOTION_UNKNOWN = "PROMOTION_UNKNOWN"
    PROMOTION_DIFFERS = "PROMOTION_DIFFERS"
    PAYMENTS_DIFFER = "PAYMENTS_DIFFER"
    COUNTED_AFTER = "COUNTED_AFTER"
    NOT_IN_ORIGINAL = "NOT_IN_ORIGINAL"


ACCEPTED = "ACCEPTED"
ACCEPTED_WITH_CONFLICTS = "ACCEPTED_WITH_CONFLICTS"
REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class PosLine:
    variant_pk: int
    quantity: int
    unit_price: Decimal = Decimal(0)
    discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    promotion_pks: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PosPayment:
    method: str
    amount: Decimal
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class PosCount:
    variant_pk: int
    quantity: int


@dataclass(frozen=True, slots=True)
class PosTxn:
    client_txn_id: str
    kind: str
    occurred_at: datetime
    lines: tuple[PosLine, ...] = ()
    returned: tuple[PosLine, ...] = ()
    payments: tuple[PosPayment, ...] = ()
    counts: tuple[PosCount, ...] = ()
    original_client_txn_id: str | None = None
    original_till_id: str | None = None
    email: str | None = None
    loyalty_card_id: str | None = None
    discount_codes: tuple[str, ...] = ()
    cash_kind: str | None = None
    cash_amount: Decimal | None = None


@dataclass(slots=True)
class TxnResult:
    client_txn_id: str
    status: str
    code: str | None = None
    message: str | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    order_pk: int | None = None
    replayed: bool = False

    def stored(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "conflicts": self.conflicts}


class Rejected(Exception):
    """A transaction refused as a whole: nothing of it is written."""

    def __init__(self, code: PosSyncCode, message: str, client_txn_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_txn_id = client_txn_id  # when the API could not parse the transaction


def conflict(code: PosSyncCode, message: str, **data: Any) -> dict[str, Any]:
    return {"code": str(code), "message": message, **data}


def check_txn(t: PosTxn) -> None:
    """The shape of one transaction (bounds, required parts per kind)."""
    if not ID_RE.match(t.client_txn_id or ""):
        raise Rejected(
            PosSyncCode.INVALID_TRANSACTION, "clientTransactionId: 1 to 63 of A-Z a-z 0-9 . _ : -"
        )
    if t.kind not in KINDS:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"unknown kind {t.kind!r}")
    if t.occurred_at.tzinfo is None:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, "occurredAt needs a time zone")
    if len(t.lines) > MAX_LINES or len(t.returned) > MAX_LINES or len(t.counts) > MAX_LINES:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"at most {MAX_LINES} lines")
    if len(t.payments) > MAX_PAYMENTS:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"at most {MAX_PAYMENTS} payments")
    need = {
        "SALE": bool(t.lines),
        "RETURN": bool(t.returned),
        "EXCHANGE": bool(t.returned) and bool(t.lines),
        "STOCK_COUNT": bool(t.counts),
        "CASH_MOVEMENT": t.cash_kind is not None and t.cash_amount is not None,
    }
    if not need[t.kind]:
        what = {
            "SALE": "lines", "RETURN": "returnedLines", "EXCHANGE": "lines and returnedLines",
            "STOCK_COUNT": "counts", "CASH_MOVEMENT": "cash",
        }[t.kind]  # fmt: skip
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"a {t.kind} needs {what}")
    for ln in (*t.lines, *t.returned):
        if not 1 <= ln.quantity <= 10_000:
            raise Rejected(PosSyncCode.INVALID_TRANSACTION, "a line's quantity is 1 to 10000")
    if len(t.discount_codes) > MAX_CODES or any(
        not 1 <= len(c.strip()) <= 64 for c in t.discount_codes
    ):
        raise Rejected(
            PosSyncCode.INVALID_TRANSACTION, f"at most {MAX_CODES} discount codes of 1 to 64"
        )
    if t.kind == "CASH_MOVEMENT" and t.cash_kind not in CASH_MOVES:
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, "cash.kind is CASH_IN or CASH_OUT")
    for c in t.counts:
        if not 0 <= c.quantity <= 1_000_000:
            raise Rejected(PosSyncCode.INVALID_TRANSACTION, "a count is 0 to 1000000")
    for p in t.payments:
        if p.method not in METHODS:
            raise Rejected(PosSyncCode.INVALID_TRANSACTION, f"unknown payment method {p.method!r}")
        if p.reference is not None and len(p.reference) > 128:
            raise Rejected(
                PosSyncCode.INVALID_TRANSACTION, "a payment reference is at most 128 characters"
            )
    if t.original_client_txn_id is not None and not ID_RE.match(t.original_client_txn_id):
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, "originalClientTransactionId is malformed")
    if t.original_till_id is not None and not ID_RE.match(t.original_till_id):
        raise Rejected(PosSyncCode.INVALID_TRANSACTION, "originalTillId is malformed")

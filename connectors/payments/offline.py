"""Payments taken outside any payment service: cash, and card terminals the hub does
not drive (the terminal's own software charges the card and prints an approval
reference, which the cashier or the point-of-sale client passes on).

These providers keep no state and never touch the database. A payment is captured the
moment it is recorded, and its id carries what a later refund needs to check amounts
(``cash_<amount>_<CUR>_<digest>``); the digest comes from the reference and the
idempotency key, so recording the same payment again yields the same id. The
domain's payment records stay the source of truth, including the running total of
refunds (each refund result reports that refund alone).
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from connectors.base import (
    Authorization,
    PaymentError,
    PaymentIntentResult,
    PaymentStatus,
    ProviderBase,
    RefundReason,
    check_amount,
    check_idempotency_key,
    refund_amount,
)
from hub.money import is_currency


class _OfflineProvider(ProviderBase):
    name: ClassVar[str]
    _reference_hint: ClassVar[str]

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        """Record a payment taken in person: authorized and captured at once."""
        amount, currency, payment_method_id = a.amount, a.currency, a.payment_method_id
        reference, idempotency_key = a.reference, a.idempotency_key
        check_idempotency_key(idempotency_key)
        if not reference or not reference.strip():
            raise PaymentError("reference_required", f"pass {self._reference_hint} as reference")
        if payment_method_id is not None:
            raise PaymentError(
                "payment_method_not_supported",
                f"{self.name} payments take no payment method id; pass None",
            )
        check_amount(amount)
        if not is_currency(currency):
            raise PaymentError("invalid_currency", f"{currency!r} is not an ISO 4217 code")
        digest = hashlib.sha256(f"{reference.strip()}\x00{idempotency_key}".encode()).hexdigest()[
            :24
        ]
        return self._result(f"{self.name}_{amount}_{currency}_{digest}", amount, currency)

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Already captured when recorded: returns the payment unchanged."""
        captured, currency = self._parse(intent_id)
        if amount is not None and amount != captured:
            raise PaymentError(
                "payment_intent_unexpected_state",
                f"this {self.name} payment was captured in full ({captured}); "
                "refund the difference instead",
            )
        return self._result(intent_id, captured, currency)

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        self._parse(intent_id)
        raise PaymentError(
            "payment_intent_unexpected_state",
            f"a {self.name} payment is captured when recorded and cannot be canceled; refund it",
        )

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        """Record money handed back: all of the payment, or ``amount`` of it."""
        captured, currency = self._parse(intent_id)
        refunded = refund_amount(amount, reason, captured, "captured")
        return self._result(intent_id, captured, currency, refunded=refunded)

    def _parse(self, intent_id: str) -> tuple[int, str]:
        parts = intent_id.split("_")
        if (
            len(parts) != 4
            or parts[0] != self.name
            or not parts[1].isdigit()
            or not is_currency(parts[2])
        ):
            raise PaymentError("resource_missing", f"no such {self.name} payment: {intent_id!r}")
        return int(parts[1]), parts[2]

    def _result(
        self, intent_id: str, amount: int, currency: str, *, refunded: int = 0
    ) -> PaymentIntentResult:
        status: PaymentStatus = "captured"
        if refunded:
            status = "refunded" if refunded >= amount else "partially_refunded"
        return PaymentIntentResult(
            provider=self.name,
            id=intent_id,
            status=status,
            amount=amount,
            currency=currency,
            amount_captured=amount,
            amount_refunded=refunded,
            failure_code=None,
            failure_message=None,
            raw_status=status,
        )


class CashProvider(_OfflineProvider):
    """Cash at a till: ``reference`` is the cash drawer id."""

    name = "cash"
    _reference_hint = "the cash drawer id"


class ExternalTerminalProvider(_OfflineProvider):
    """A card terminal outside the hub: ``reference`` is the terminal's transaction
    or approval reference, which ties the payment to the terminal's settlement."""

    name = "terminal"
    _reference_hint = "the terminal's transaction reference"

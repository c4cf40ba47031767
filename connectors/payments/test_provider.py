"""The test payment provider: Stripe's documented test PaymentMethods, with no network
and no key, so a storefront can pay in a demo or a test environment and its code
carries over to Stripe unchanged.

It takes the ids of Stripe's test PaymentMethods (https://docs.stripe.com/testing):

- ``pm_card_visa`` and the other brands (``pm_card_mastercard``, ``pm_card_amex``,
  ``pm_card_discover``, ``pm_card_jcb``, ``pm_card_diners``, ``pm_card_unionpay``, the
  ``_debit``/``_prepaid`` variants) and the cards by country (``pm_card_us``,
  ``pm_card_de``, ...) succeed;
- ``pm_card_chargeDeclined`` (``card_declined``/``generic_decline``),
  ``pm_card_chargeDeclinedInsufficientFunds`` (``insufficient_funds``) and the other
  documented declines fail with their codes: a ``failed`` result whose
  ``failure_code`` is the decline code (or the error code when Stripe gives no decline
  code, e.g. ``expired_card``), as :class:`~connectors.payments.stripe_provider.StripeProvider`
  reports a decline;
- ``pm_card_authenticationRequired`` (and the 3-D Secure cards) need the buyer's
  action: a ``requires_action`` result with a client secret, as Stripe answers;
- any other id is refused like Stripe refuses an unknown PaymentMethod
  (``PaymentError`` ``resource_missing``).

Like the Stripe provider it authorizes for a later capture (status ``authorized``):
an order paid with it goes through the same states as one paid through Stripe, and
what undoes an unused payment is a cancel, not a refund. Any ISO 4217 currency and any
positive amount are accepted. Every result has ``test=True``: the hub records such
payments, and the orders they pay, as test payments.

The provider keeps no state and never touches the database: a payment's id is derived
from the idempotency key and what is paid (``pi_test_<amount>_<CUR>_<digest>``), so a
repeated call returns the same payment, and capture, cancel and refund read the amount
back from the id. The hub's payment records are the source of truth for what was
captured or refunded (each refund result reports that refund alone, like the offline
providers').
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Final

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

PROVIDER: Final = "test"

_BRANDS: Final = frozenset(
    {
        "visa",
        "visa_debit",
        "mastercard",
        "mastercard_debit",
        "mastercard_prepaid",
        "amex",
        "discover",
        "diners",
        "jcb",
        "unionpay",
        "cartesBancaires",
        "visa_cartesBancaires",
        "mastercard_cartesBancaires",
        "eftposAuDebit",
        "eftposAuVisaDebit",
        "eftposAuDebitMastercard",
        "bypassPending",
        "bypassPendingInternational",
    }
)
_COUNTRY = re.compile(r"^pm_card_[a-z]{2}$")  # pm_card_us, pm_card_de, ... (by country)

# id -> (error code, decline code, message), as Stripe's 402 card errors carry them.
DECLINES: Final[Mapping[str, tuple[str, str | None, str]]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclined": (
        "card_declined",
        "generic_decline",
        "Your card was declined.",
    ),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_visa_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
    "pm_card_visa_chargeDeclinedLostCard": (
        "card_declined",
        "lost_card",
        "Your card was declined.",
    ),
    "pm_card_chargeDeclinedStolenCard": (
        "card_declined",
        "stolen_card",
        "Your card was declined.",
    ),
    "pm_card_visa_chargeDeclinedStolenCard": (
        "card_declined",
        "stolen_card",
        "Your card was declined.",
    ),
    "pm_card_chargeDeclinedFraudulent": (
        "card_declined",
        "fraudulent",
        "Your card was declined.",
    ),
    "pm_card_visa_chargeDeclinedVelocityLimitExceeded": (
        "card_declined",
        "card_velocity_exceeded",
        "Your card was declined for making repeated attempts too frequently.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", None, "Your card has expired."),
    "pm_card_chargeDeclinedIncorrectCvc": (
        "incorrect_cvc",
        None,
        "Your card's security code is incorrect.",
    ),
    "pm_card_chargeDeclinedProcessingError": (
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}
# Cards whose payments need the buyer's authentication (3-D Secure).
NEEDS_ACTION: Final = frozenset(
    {
        "pm_card_authenticationRequired",
        "pm_card_authenticationRequiredOnSetup",
        "pm_card_threeDSecure2Required",
        "pm_card_threeDSecureRequired",
    }
)
_ID = re.compile(r"^pi_test_([0-9]{1,18})_([A-Z]{3})_([0-9a-f]{24})$")


def succeeds(payment_method_id: str) -> bool:
    """Whether this test PaymentMethod authorizes."""
    if not payment_method_id.startswith("pm_card_"):
        return False
    return payment_method_id[len("pm_card_") :] in _BRANDS or bool(
        _COUNTRY.match(payment_method_id)
    )


class TestPaymentProvider(ProviderBase):
    """``PaymentProvider`` for test payments (see the module docstring)."""

    __test__ = False  # not a pytest test class, whatever its name says
    name = PROVIDER

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        amount, currency, payment_method_id = a.amount, a.currency, a.payment_method_id
        idempotency_key = a.idempotency_key
        check_idempotency_key(idempotency_key)
        check_amount(amount)
        if amount >= 10**18:
            raise PaymentError("invalid_amount", "amount is too large")
        if not is_currency(currency):
            raise PaymentError("invalid_currency", f"{currency!r} is not an ISO 4217 code")
        if not payment_method_id or not payment_method_id.startswith("pm_"):
            raise PaymentError(
                "invalid_payment_method",
                "pass one of Stripe's test PaymentMethod ids, e.g. pm_card_visa (or "
                "pm_card_chargeDeclined to see a decline)",
            )
        known = (
            succeeds(payment_method_id)
            or payment_method_id in DECLINES
            or payment_method_id in NEEDS_ACTION
        )
        if not known:
            raise PaymentError(
                "resource_missing",
                f"No such PaymentMethod: {payment_method_id!r}; the test provider takes "
                "Stripe's test PaymentMethod ids (pm_card_visa, pm_card_mastercard, "
                "pm_card_chargeDeclined, pm_card_authenticationRequired, ...)",
            )
        currency = currency.upper()
        digest = hashlib.sha256(
            "\x1f".join([idempotency_key, payment_method_id, str(amount), currency]).encode()
        ).hexdigest()[:24]
        intent_id = f"pi_test_{amount}_{currency}_{digest}"
        if payment_method_id in DECLINES:
            code, decline_code, message = DECLINES[payment_method_id]
            return self._result(
                intent_id,
                "failed",
                amount,
                currency,
                raw="requires_payment_method",
                failure=(decline_code or code, message),
            )
        if payment_method_id in NEEDS_ACTION:
            return self._result(
                intent_id,
                "requires_action",
                amount,
                currency,
                raw="requires_action",
                client_secret=f"{intent_id}_secret_test",
            )
        return self._result(intent_id, "authorized", amount, currency, raw="requires_capture")

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Capture all of the authorization, or ``amount`` of it (the rest is released)."""
        authorized, currency = self._parse(intent_id)
        taken = authorized if amount is None else amount
        check_amount(taken)
        if taken > authorized:
            raise PaymentError(
                "amount_too_large",
                f"The amount to capture ({taken}) exceeds the {authorized} authorized.",
            )
        return self._result(
            intent_id, "captured", authorized, currency, raw="succeeded", captured=taken
        )

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        """Release the authorization."""
        authorized, currency = self._parse(intent_id)
        return self._result(intent_id, "canceled", authorized, currency, raw="canceled")

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        """Refund all of the payment, or ``amount`` of it (this refund alone is reported)."""
        authorized, currency = self._parse(intent_id)
        back = refund_amount(amount, reason, authorized, "paid")
        status: PaymentStatus = "refunded" if back >= authorized else "partially_refunded"
        return self._result(
            intent_id, status, authorized, currency, raw="succeeded", captured=authorized, back=back
        )

    @staticmethod
    def _parse(intent_id: str) -> tuple[int, str]:
        m = _ID.match(intent_id or "")
        if m is None:
            raise PaymentError("resource_missing", f"No such test payment: {intent_id!r}")
        return int(m.group(1)), m.group(2)

    def _result(
        self,
        intent_id: str,
        status: PaymentStatus,
        amount: int,
        currency: str,
        *,
        raw: str,
        captured: int = 0,
        back: int = 0,
        failure: tuple[str, str] | None = None,
        client_secret: str | None = None,
    ) -> PaymentIntentResult:
        return PaymentIntentResult(
            provider=self.name,
            id=intent_id,
            status=status,
            amount=amount,
            currency=currency,
            amount_captured=captured,
            amount_refunded=back,
            failure_code=failure[0] if failure else None,
            failure_message=failure[1] if failure else None,
            raw_status=raw,
            client_secret=client_secret,
            test=True,
        )

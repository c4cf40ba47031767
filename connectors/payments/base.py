"""The payment provider protocol, its result type and its errors.

The hub never sees card numbers: a card is tokenized by the provider's own client-side
SDK and the hub only handles the token (for Stripe a PaymentMethod id, ``pm_...``).
Amounts are integers in the hub's minor units of an ISO 4217 currency (see
``hub.money``); a provider converts to its own wire format at its edge.

Every call that moves money takes an idempotency key: calling again with the same key
returns the first outcome instead of moving money twice, so a caller that got
``PaymentUnavailable`` (outcome unknown) retries with the same key.

A card decline is an outcome, not an error: ``authorize`` returns a result with status
``"failed"`` and the decline code. Exceptions are kept for requests that cannot be
carried out: ``PaymentError`` (the request is wrong, retrying it won't help) and
``PaymentUnavailable`` (the provider could not be reached or failed; retry later with
the same idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, runtime_checkable

PaymentStatus = Literal[
    "requires_action",  # the customer must act (3-D Secure, or pick a payment method)
    "processing",  # the provider is still working on it; wait for a webhook
    "authorized",  # funds held, not yet captured
    "captured",  # funds taken
    "partially_refunded",
    "refunded",
    "canceled",  # authorization released, nothing taken
    "failed",  # declined or otherwise unsuccessful; see failure_code
    "unknown",  # a provider status this module does not know; see raw_status
]

RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]

REFUND_REASONS: Final[frozenset[str]] = frozenset(
    {"duplicate", "fraudulent", "requested_by_customer"}
)


@dataclass(frozen=True, slots=True)
class PaymentIntentResult:
    """A payment as the provider reports it after a call.

    ``amount``, ``amount_captured`` and ``amount_refunded`` are hub minor units of
    ``currency`` (upper-case ISO 4217). ``amount_refunded`` counts refunds of captured
    funds only: an authorization released by a partial capture or a cancel is not a
    refund. Offline providers keep no state, so their ``amount_refunded`` is the amount
    of the refund just made; the domain owns the running total.
    """

    provider: str
    id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_captured: int
    amount_refunded: int
    failure_code: str | None
    failure_message: str | None
    raw_status: str
    # Handed to the storefront when status is "requires_action", so the provider's
    # client-side SDK can finish the payment (3-D Secure, choosing a method).
    client_secret: str | None = field(default=None, repr=False)
    # A test payment (no money moves): the hub marks it, and the order it pays.
    test: bool = False


class PaymentError(Exception):
    """The provider refused the request as invalid; retrying it unchanged won't help.

    ``code`` is a stable machine-readable code (the provider's own where it has one,
    e.g. Stripe's ``payment_intent_unexpected_state``); ``message`` says what to fix.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PaymentUnavailable(Exception):
    """The provider could not be reached or failed (network down after retries, 5xx,
    rate limited, misconfigured credentials). The outcome of the call is unknown:
    retry later with the same idempotency key."""


class WebhookSignatureError(PaymentError):
    """A webhook whose signature does not verify, or is too old: reject it (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__("webhook_signature_invalid", message)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider webhook. ``data`` is the event's object (e.g. the
    PaymentIntent) as plain JSON data; ``intent_id`` is the payment it concerns, if any."""

    id: str
    type: str
    intent_id: str | None
    data: Mapping[str, Any]


@runtime_checkable
class PaymentProvider(Protocol):
    """Takes payments through one provider. Implementations never touch the database."""

    name: str

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method_id: str | None,
        reference: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntentResult:
        """Create and confirm a payment for ``amount`` with manual capture.

        A decline returns status ``"failed"`` with ``failure_code`` (e.g.
        ``insufficient_funds``), not an exception. ``reference`` is the hub's reference
        for the payment (order or checkout id; for offline providers the cash drawer or
        terminal reference)."""
        ...

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Capture an authorized payment, all of it or ``amount`` of it (the rest of
        the authorization is released)."""
        ...

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        """Release an authorization that has not been captured."""
        ...

    async def refund(
        self,
        intent_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str,
        reason: RefundReason | None = None,
    ) -> PaymentIntentResult:
        """Refund a captured payment, all of what remains or ``amount`` of it."""
        ...

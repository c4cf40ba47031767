"""What the payment connectors share in their implementation (the protocol itself is
``connectors.base.PaymentProvider``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connectors.base import PaymentIntentResult, RefundReason


@dataclass(frozen=True, slots=True)
class Authorization:
    """The arguments of ``PaymentProvider.authorize``, as one value."""

    amount: int
    currency: str
    payment_method_id: str | None
    reference: str
    idempotency_key: str
    metadata: Mapping[str, str] | None = None


class ProviderBase:
    """``authorize`` and ``refund`` with the protocol's arguments, handed to the
    provider's ``_authorize`` (as one :class:`Authorization`) and ``_refund``."""

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
        """Create and confirm a payment for ``amount`` with manual capture (see
        ``connectors.base.PaymentProvider.authorize``)."""
        return await self._authorize(
            Authorization(amount, currency, payment_method_id, reference, idempotency_key, metadata)
        )

    async def refund(
        self,
        intent_id: str,
        amount: int | None = None,
        *,
        idempotency_key: str,
        reason: RefundReason | None = None,
    ) -> PaymentIntentResult:
        """Refund a captured payment, all of what remains or ``amount`` of it."""
        return await self._refund(intent_id, amount, idempotency_key, reason)

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        raise NotImplementedError

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        raise NotImplementedError

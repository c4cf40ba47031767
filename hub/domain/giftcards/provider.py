"""The gift card as a payment provider (``connectors.base.PaymentProvider``),
so ``checkoutComplete`` takes a gift card like any other payment: ``authorize`` debits
(the money is taken, so the payment is ``captured`` at once, like cash), ``capture``
confirms, ``cancel`` voids the debit, ``refund`` gives back all or part of it.

It lives here and not in ``connectors/`` because it works on the hub's own database,
which connectors never touch. A refused debit is a ``failed`` payment whose
``failure_code`` is the userError code checkout answers: ``GIFT_CARD_INSUFFICIENT_FUNDS``
or ``GIFT_CARD_INVALID`` (unknown or disabled code, expired card, another currency).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from connectors.base import (
    Authorization,
    PaymentError,
    PaymentIntentResult,
    PaymentUnavailable,
    ProviderBase,
    RefundReason,
    check_amount,
    check_idempotency_key,
    check_refund_reason,
)
from hub.db.database import Database
from hub.db.tables import txns_t
from hub.domain.giftcards.ledger import debit, debit_state, recredit
from hub.domain.giftcards.records import MAX_AMOUNT, PROVIDER, DebitState, GiftCardDeclined
from hub.money import is_currency


class GiftCardProvider(ProviderBase):
    """The gift card as a payment provider (``connectors.base.PaymentProvider``).

    ``payment_method_id`` is the card's code. ``authorize`` takes the money at once
    (status ``captured``); the payment's id is ``gc_<ledger row>``, never the code."""

    name = PROVIDER
    voids_captured = True  # cancel() voids a debit, though it was taken at once

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _authorize(self, a: Authorization) -> PaymentIntentResult:
        amount, currency, payment_method_id = a.amount, a.currency, a.payment_method_id
        check_idempotency_key(a.idempotency_key)
        if not payment_method_id or not payment_method_id.strip():
            raise PaymentError("gift_card_code_required", "pass the gift card's code")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
            raise PaymentError("invalid_amount", "amount must be a positive integer")
        if not is_currency(currency):
            raise PaymentError("invalid_currency", f"{currency!r} is not an ISO 4217 code")
        try:
            state = await debit(
                self.db,
                payment_method_id,
                amount,
                currency,
                reference=a.reference,
                key=a.idempotency_key,
                card_pk=self._card_pk(payment_method_id),
            )
        except GiftCardDeclined as exc:
            return PaymentIntentResult(
                provider=self.name,
                id="",
                status="failed",
                amount=amount,
                currency=currency,
                amount_captured=0,
                amount_refunded=0,
                failure_code=exc.code,
                failure_message=exc.message,
                raw_status="declined",
            )
        except DBAPIError as exc:
            raise PaymentUnavailable(f"the gift card ledger could not be written: {exc}") from exc
        return self._result(state)

    async def lookup(self, idempotency_key: str) -> PaymentIntentResult | None:
        """The debit ``authorize`` made with this idempotency key (on whichever card),
        as it stands now; None when there is none. Reconciliation finds a crashed
        checkout's debit this way: the card's code is never stored."""
        async with self.db.read() as conn:
            pk = (
                await conn.execute(
                    select(txns_t.c.id).where(
                        txns_t.c.idempotency_key == idempotency_key[:255],
                        txns_t.c.kind == "DEBIT",
                    )
                )
            ).scalar()
            state = await debit_state(conn, pk) if pk is not None else None
        return self._result(state) if state is not None else None

    async def capture(
        self, intent_id: str, amount: int | None = None, *, idempotency_key: str
    ) -> PaymentIntentResult:
        """Taken when authorized: returns the payment as it stands."""
        async with self.db.read() as conn:
            state = await debit_state(conn, self._parse(intent_id))
        if state is None:
            raise PaymentError("resource_missing", f"no such gift card payment: {intent_id!r}")
        if amount is not None and amount != state.amount:
            raise PaymentError(
                "payment_intent_unexpected_state",
                f"this gift card payment was taken in full ({state.amount}) when authorized; "
                "refund the difference instead",
            )
        return self._result(state)

    async def cancel(self, intent_id: str, *, idempotency_key: str) -> PaymentIntentResult:
        """Give back all that remains of the debit to the card (a void)."""
        state = await self._recredit(intent_id, None, "VOID", idempotency_key)
        return self._result(state)

    async def _refund(
        self, intent_id: str, amount: int | None, idempotency_key: str, reason: RefundReason | None
    ) -> PaymentIntentResult:
        """Give back all that remains, or ``amount`` of it, to the card."""
        check_refund_reason(reason)
        if amount is not None:
            check_amount(amount, "refund amount")
        state = await self._recredit(intent_id, amount, "REFUND", idempotency_key)
        return self._result(state)

    async def _recredit(
        self, intent_id: str, amount: int | None, kind: str, key: str
    ) -> DebitState:
        check_idempotency_key(key)
        try:
            return await recredit(
                self.db, self._parse(intent_id), amount, kind=kind, key=key, reference=intent_id
            )
        except DBAPIError as exc:
            raise PaymentUnavailable(f"the gift card ledger could not be written: {exc}") from exc

    def _card_pk(self, payment_method_id: str) -> int | None:
        """The card is found by its code (a store credit's by its pk)."""
        return None

    @staticmethod
    def _parse(intent_id: str) -> int:
        prefix, _, raw = (intent_id or "").partition("_")
        if prefix != "gc" or not raw.isdigit() or len(raw) > 18:
            raise PaymentError("resource_missing", f"no such gift card payment: {intent_id!r}")
        return int(raw)

    def _result(self, s: DebitState) -> PaymentIntentResult:
        status = s.status
        return PaymentIntentResult(
            provider=self.name,
            id=f"gc_{s.pk}",
            status=status,
            amount=s.amount,
            currency=s.currency,
            amount_captured=s.amount - s.voided,
            amount_refunded=s.refunded,
            failure_code=None,
            failure_message=None,
            raw_status=status,
        )


class StoreCreditProvider(GiftCardProvider):
    """Store credit as a payment: a customer's gift card (issued for a return, say)
    spent by its id at a till (``payment_method_id``: the card's pk), without its
    code; checkout checks it is the cart's customer's. Everything else (void, refund,
    look-up by key) is the gift card's: the money goes back to that card."""

    name = "store_credit"

    def _card_pk(self, payment_method_id: str) -> int | None:
        raw = (payment_method_id or "").strip()
        if not raw.isdigit() or len(raw) > 18:
            raise PaymentError("resource_missing", "no such store credit")
        return int(raw)

"""checkoutComplete: a cart becomes an order, all or nothing, whatever crashes.

The steps, and what undoes each if a later one fails:

1. **Price** the cart with :func:`hub.domain.carts.price_cart` (nothing from the
   client is trusted) and choose the stock location of every line
   (:mod:`hub.domain.checkout.plan`).
2. **Claim, record and reserve**, one transaction: claim the idempotency key as a
   PENDING attempt (``checkout_attempts``, per cart and key) holding a fresh *lease*
   (a random token, valid ``HUB_CHECKOUT_LEASE_SECONDS``); lock the cart
   (``COMPLETING`` under that lease, only if its version is still the one priced);
   record the payment before it is taken (:mod:`hub.domain.checkout.payments`: a
   PENDING row with the provider idempotency key, or the cart's orphaned payment that
   pays the same way, adopted); reserve every line's units for the lease
   (``INSUFFICIENT_STOCK`` names every line short, and its pickup location).
3. While the attempt runs, a heartbeat renews its lease: the attempt's, the cart's
   and its reservations' expiry, every third of the lease.
4. **Pay**, outside any transaction: first release the cart's other orphaned payments
   (an earlier attempt's, with another card or amount), then authorize with the
   payment row's key, so a replay never pays twice.
5. **Order**, one transaction, fenced by the lease: write the order, its lines and
   payment, mark the payment row USED, the cart COMPLETED and the attempt DONE, commit
   the reservations (reserved -> committed) and, last, redeem the promotions (the
   rows every checkout shares are locked only just before the COMMIT), each
   conditional on this attempt's lease, so an attempt that lost it (stalled while
   another took over) writes nothing and gives its payment back.

A decline (or any failure after step 2) releases the reservations, unlocks the cart
and forgets the attempt, so the cart stays usable and the same key may be retried; a
payment taken for an order that could not be written is given back. The same key
after success returns the same order; a duplicate arriving while the first runs
waits for it and returns its order, so one key makes one order.

A crash anywhere (the process killed between the payment and the order, say) leaves
a lease that lapses within seconds: the expiry job releases the reservations, a
retry with the same key takes the attempt over (without waiting for its own dead
attempt), a retry with a new key locks the cart again, and the recorded payment is
reused by that retry or released by it or by the reconciliation job. Money is never
taken twice and never kept without an order.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import (
    PaymentError,
    PaymentIntentResult,
    PaymentProvider,
    PaymentUnavailable,
    TaxEngine,
)
from hub.auth import Principal
from hub.db.database import Database
from hub.db.tables import carts_t
from hub.domain import carts as cartsvc
from hub.domain.carts import PricedCart
from hub.domain.carts.reuse import priced_carts
from hub.domain.checkout import lease as leases
from hub.domain.checkout import payments, split
from hub.domain.checkout.codes import (
    OFFLINE_PROVIDERS,
    TEST_PROVIDER,
    CheckoutCode,
    CheckoutResult,
    PaymentRequest,
    Tender,
)
from hub.domain.checkout.order import LeaseLost, PromotionsMoved, write_order
from hub.domain.checkout.plan import Plan, check_payable, plan_stock, reserve
from hub.domain.errors import Code, DomainError, fail
from hub.domain.giftcards import DECLINE_CODES, GiftCardCode
from hub.domain.inventory import refuse, release
from hub.domain.inventory.records import label
from hub.domain.till import sales as till_sales
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger("hub.checkout")
_now = leases.now


class Checkout:
    """The checkout service of one process."""

    def __init__(
        self,
        db: Database,
        *,
        tax_engine: TaxEngine | None,
        providers: Mapping[str, PaymentProvider],
        publish: Callable[[Sequence[Event]], Awaitable[None]] | None = None,
        lease: timedelta = timedelta(seconds=15),
        wait: float = 30.0,
        pause_file: str | None = None,
    ) -> None:
        self.db = db
        self.kept = priced_carts(db)
        self.tax_engine = tax_engine
        self.providers = dict(providers)
        self._publish = publish
        self.lease = lease
        self.wait = wait
        # Tests only (HUB_TEST_CHECKOUT_PAUSE_FILE): wait between the payment and the
        # order while this file exists, so a test can kill the process right there.
        self.pause_file = pause_file

    async def publish(self, events: Sequence[Event]) -> None:
        if events and self._publish is not None:
            await self._publish(events)

    async def complete(
        self,
        token: str,
        key: str,
        payment: PaymentRequest | None,
        principal: Principal,
        tenders: Sequence[Tender] | None = None,
    ) -> CheckoutResult:
        """``tenders``: several payments for the order (split tender,
        :mod:`hub.domain.checkout.split`) instead of ``payment``."""
        key = key.strip()
        if not key or len(key) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in key):
            raise fail(
                Code.INVALID,
                "idempotencyKey is 1 to 255 characters, without control characters",
                "idempotency_key",
            )
        deadline = asyncio.get_running_loop().time() + self.wait
        delay = 0.02
        for _ in range(1000):
            now = _now()
            since = self.kept.since(token)
            async with self.db.read() as conn:
                crossed = None if since is None else (since, now)
                state = await cartsvc.load_cart(conn, token, crossed)
                if state is None or not cartsvc.may_use(state.cart, principal):
                    raise fail(Code.NOT_FOUND, "no cart with that id", "cart_id")
                done = await leases.find_attempt(conn, state.cart.id, key)
                if done is not None and done.status == "DONE":
                    change = await split.change_of(conn, done.order_id) if tenders else None
                    return CheckoutResult(done.order_id, replayed=True, change_due=change)
                if done is None:
                    cartsvc.check_readable(state, principal, _now())
                    if state.cart.status == "COMPLETED":
                        raise refuse(
                            CheckoutCode.ALREADY_COMPLETED,
                            "the cart was checked out already",
                            "cart_id",
                        )
                    # The cart as last priced, if nothing it depends on changed since
                    # (hub.domain.carts.reuse); else priced now.
                    priced = await self.kept.take(
                        conn, state, tax_engine=self.tax_engine, now=now
                    ) or await cartsvc.price_cart(conn, state, tax_engine=self.tax_engine)
                    plan = await plan_stock(conn, priced)
            if done is None:
                if tenders is not None:
                    outcome = await split.run(self, priced, plan, key, tenders, principal)
                else:
                    outcome = await self._run(priced, plan, key, payment, principal)
                if outcome is not None:
                    return outcome
            # Someone else holds this key (or changed the cart meanwhile): wait, retry.
            # A crashed holder's lease lapses within seconds; then this takes over.
            if asyncio.get_running_loop().time() > deadline:
                raise refuse(
                    CheckoutCode.CHECKOUT_IN_PROGRESS,
                    "this checkout is still running; retry with the same idempotencyKey",
                    "idempotency_key",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run(
        self,
        priced: PricedCart,
        plan: Plan,
        key: str,
        payment: PaymentRequest | None,
        principal: Principal,
    ) -> CheckoutResult | None:
        check_payable(priced, plan)
        provider = self._provider(priced, payment, principal)
        cart = priced.cart
        token = secrets.token_hex(16)  # this attempt's lease
        attempt = leases.Attempt(cart.id, key, token, f"checkout:{cart.token[:16]}:{token}")
        paying = None
        # Offline tenders move no money through the hub (the till holds it): there
        # is nothing to record before, nor to give back after a crash.
        if provider is not None and provider.name not in OFFLINE_PROVIDERS:
            assert payment is not None
            paying = payments.PaymentPlan(
                provider=provider.name,
                method=payment.payment_method_id,
                reference=payment.reference or f"cart-{cart.token[:16]}",
                amount=priced.total,
                currency=priced.currency,
                store_method=payments.stores_method(provider),
            )
        # 2. claim the key, lock the cart, record the payment, reserve the stock.
        try:
            async with self.db.transaction() as conn:
                claimed, got = await leases.claim_and_lock(
                    conn, cart.id, cart.version, key, token, self.lease
                )
                if not claimed:
                    return None  # another request runs this key: wait for it
                if got is None:
                    raise _CartMoved()
                if paying is not None:
                    attempt.payment = await payments.prepare(
                        conn,
                        cart.id,
                        key,
                        paying,
                        test=paying.provider == TEST_PROVIDER,
                        earlier=bool(got.open_payments),
                    )
                attempt.tokens, events = await reserve(
                    conn, priced, plan, self.lease, attempt.reference
                )
        except _CartMoved:
            return await self._why_not_locked(cart.id, cart.version)
        await self.publish(events)
        beat = leases.Heartbeat(self.db, attempt, self.lease)
        beat.start()
        try:
            return await self._pay_and_order(
                priced, plan, attempt, provider, payment, beat, principal
            )
        finally:
            await beat.stop()

    async def _pay_and_order(
        self,
        priced: PricedCart,
        plan: Plan,
        attempt: leases.Attempt,
        provider: PaymentProvider | None,
        payment: PaymentRequest | None,
        beat: leases.Heartbeat,
        principal: Principal,
    ) -> CheckoutResult:
        # 4. payment, outside any transaction.
        result: PaymentIntentResult | None = None
        if provider is not None:
            assert payment is not None
            result = await self._pay(priced, attempt, provider, payment)
            if self.pause_file:
                await leases.pause(self.pause_file)
        # 5. the order.
        try:
            if beat.lost:
                raise LeaseLost()
            order_pk, events = await self._write_order(
                priced, plan, attempt, result, payment, principal
            )
        except BaseException as exc:
            await self._undo(attempt)
            if provider is not None and result is not None:
                await self._give_back(attempt, provider, result, "order_not_written")
            if isinstance(exc, PromotionsMoved):
                raise refuse(
                    CheckoutCode.DISCOUNT_NOT_AVAILABLE,
                    "a discount ran out while checking out; review the cart's new total",
                    "discount_codes",
                ) from None
            if isinstance(exc, LeaseLost):
                raise refuse(
                    CheckoutCode.CHECKOUT_INTERRUPTED,
                    "this checkout was interrupted (its hold on the cart and stock "
                    "lapsed) and nothing was charged; retry",
                    "cart_id",
                ) from None
            raise
        await self.publish(events)
        return CheckoutResult(order_pk)

    async def _pay(
        self,
        priced: PricedCart,
        attempt: leases.Attempt,
        provider: PaymentProvider,
        payment: PaymentRequest,
    ) -> PaymentIntentResult:
        """Release the cart's earlier, orphaned payments, then authorize this one with
        its recorded key. Raises the userError of a payment that did not go through
        (having undone the attempt)."""
        prepared = attempt.payment
        if prepared is not None:
            await self._release_earlier(attempt, prepared)
            key = prepared.provider_key
            meta = payments.metadata(attempt.cart_pk, prepared.pk)
        else:  # an offline tender: recorded with the order only
            key = _offline_key(priced, attempt.key, payment)
            meta = {"cart": str(attempt.cart_pk)}
        try:
            result = await provider.authorize(
                amount=priced.total,
                currency=priced.currency,
                payment_method_id=payment.payment_method_id,
                reference=payment.reference or f"cart-{priced.cart.token[:16]}",
                idempotency_key=key,
                metadata=meta,
            )
        except PaymentError as exc:
            await self._settle(attempt, "FAILED", None)
            await self._undo(attempt)
            raise refuse(
                CheckoutCode.PAYMENT_INVALID,
                f"the payment was refused: {exc.message} ({exc.code})",
                "payment",
            ) from None
        except PaymentUnavailable:
            # The outcome is unknown: the payment row stays, to be reused by a retry
            # (the same key replays the same call) or released by reconciliation.
            await self._undo(attempt)
            raise refuse(
                CheckoutCode.PAYMENT_UNAVAILABLE,
                "the payment provider can't be reached; retry with the same idempotencyKey",
                "payment",
            ) from None
        if result.status in ("authorized", "captured", "processing"):
            return result
        await self._undo(attempt)
        if result.status == "requires_action":
            await self._give_back(attempt, provider, result, "action_required")
            raise refuse(
                CheckoutCode.PAYMENT_ACTION_REQUIRED,
                "the payment needs the buyer's action (3-D Secure), which this "
                "checkout can't complete; use another payment method",
                "payment",
            )
        await self._settle(attempt, "FAILED", result)
        declined = result.failure_code or ""
        raise refuse(
            GiftCardCode(declined)  # a gift card's decline has a code of its own
            if declined in DECLINE_CODES
            else CheckoutCode.PAYMENT_DECLINED,
            f"the payment was declined ({result.failure_code or result.raw_status})"
            + (f": {result.failure_message}" if result.failure_message else ""),
            "payment",
        )

    async def _release_earlier(self, attempt: leases.Attempt, prepared: payments.Prepared) -> None:
        """Give back the cart's payments that an earlier attempt took another way,
        before this one pays: a cart never holds two. One that another process is
        releasing right now is waited for (a few seconds at most)."""
        for orphan in prepared.orphans:
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                outcome = await payments.release(
                    self.db,
                    self.providers,
                    orphan.id,
                    reason="superseded",
                    publish=self.publish,
                    mine=(attempt.cart_pk, attempt.key),
                )
                if outcome != "busy" or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            if outcome != "settled":
                await self._undo(attempt)
                raise refuse(
                    CheckoutCode.PAYMENT_UNAVAILABLE,
                    "an earlier payment of this cart can't be given back yet, so no "
                    "other is taken; retry in a moment",
                    "payment",
                )

    async def _settle(
        self, attempt: leases.Attempt, status: str, result: PaymentIntentResult | None
    ) -> None:
        if attempt.payment is not None:
            async with self.db.transaction() as conn:
                await payments.settle(conn, attempt.payment.pk, attempt.key, status, result)

    async def _give_back(
        self,
        attempt: leases.Attempt,
        provider: PaymentProvider,
        result: PaymentIntentResult,
        why: str,
    ) -> None:
        """Give back this attempt's own payment (it won't be used); if the provider
        can't be reached now, the reconciliation job does it later."""
        try:
            if attempt.payment is not None:
                await payments.release(
                    self.db,
                    self.providers,
                    attempt.payment.pk,
                    reason=why,
                    publish=self.publish,
                    mine=(attempt.cart_pk, attempt.key),
                    known=result,
                )
            elif result.id:  # an offline tender: record that it was handed back
                key = f"void-{result.id}"[:255]
                await provider.refund(result.id, idempotency_key=key)
        except Exception:
            log.exception("checkout: could not give back payment %s", result.id)

    def _provider(
        self, priced: PricedCart, payment: PaymentRequest | None, principal: Principal
    ) -> PaymentProvider | None:
        if priced.total == 0:
            return None
        if payment is None:
            raise refuse(
                CheckoutCode.PAYMENT_REQUIRED,
                "the cart costs something: pass a payment",
                "payment",
            )
        for value, field_ in (
            (payment.reference, "reference"),
            (payment.payment_method_id, "payment_method_id"),
        ):
            if value is not None and (
                len(value) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in value)
            ):
                raise fail(
                    Code.INVALID,
                    f"{label(field_)} is at most 255 characters, without control characters",
                    "payment",
                    field_,
                )
        name = payment.provider.strip().lower()
        provider = self.providers.get(name)
        if name == "store_credit":
            raise fail(
                Code.INVALID,
                "store credit is paid with payments (method STORE_CREDIT), where its "
                "owner is checked",
                "payment",
                "provider",
            )
        if provider is None:
            offered = ", ".join(sorted(set(self.providers) - {"store_credit"})) or "none"
            raise fail(
                Code.INVALID,
                f"no payment provider {name!r} is configured (offered: {offered})",
                "payment",
                "provider",
            )
        if name in OFFLINE_PROVIDERS and not principal.can("orders"):
            raise refuse(
                CheckoutCode.ACCESS_DENIED,
                f"{name} payments are taken at a till: they need an admin (point-of-sale) key",
                "payment",
                "provider",
            )
        return provider

    async def _why_not_locked(self, cart_pk: int, version: int) -> CheckoutResult | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(carts_t).where(carts_t.c.id == cart_pk))).one()
        if row.status == "COMPLETED":
            raise refuse(
                CheckoutCode.ALREADY_COMPLETED, "the cart was checked out already", "cart_id"
            )
        if row.expires_at <= _now():
            raise refuse(CheckoutCode.CART_EXPIRED, "the cart expired; create a new one", "cart_id")
        if row.status == "COMPLETING" and row.version == version:
            raise refuse(
                CheckoutCode.CHECKOUT_IN_PROGRESS,
                "another checkout of this cart is running; retry in a few seconds",
                "cart_id",
            )
        return None  # the cart changed after it was priced: price it again

    async def _write_order(
        self,
        priced: PricedCart,
        plan: Plan,
        attempt: leases.Attempt,
        result: PaymentIntentResult | None,
        payment: PaymentRequest | None,
        principal: Principal,
    ) -> tuple[int, list[Event]]:
        """5. The order, in one transaction (:mod:`hub.domain.checkout.order`)."""
        async with self.db.transaction() as conn:
            order_pk, events = await write_order(
                conn,
                Outbox(),
                priced,
                plan,
                attempt,
                result,
                payment,
                store=principal.can("orders"),
            )
            await _at_till(conn, order_pk, principal, result, payment)
            return order_pk, events

    async def _undo(self, attempt: leases.Attempt) -> None:
        """Release the reservations, unlock the cart and forget the attempt (each only
        while this attempt's lease holds them)."""
        events: list[Event] = []
        try:
            async with self.db.transaction() as conn:
                for takes in attempt.tokens.values():
                    for _loc, _qty, tok in takes:
                        try:
                            events += (await release(conn, tok)).events
                        except DomainError:
                            pass  # expired and released meanwhile
                params = {"cart": attempt.cart_pk, "key_": attempt.key, "lease_": attempt.lease}
                await conn.execute(leases.UNLOCK_CART, params)
                await conn.execute(leases.FORGET_ATTEMPT, params)
        except Exception:
            # The lease then lapses: the reservations expire and the cart is free.
            log.exception("checkout: undoing cart %s failed", attempt.cart_pk)
            return
        await self.publish(events)


async def _at_till(
    conn: AsyncConnection,
    order_pk: int,
    principal: Principal,
    result: PaymentIntentResult | None,
    payment: PaymentRequest | None,
) -> None:
    """A sale at a till (a till's staff token, or cash whose reference is a till's
    code): the order is the till's and its cash goes in the till's open session."""
    cash = result.amount_captured if result is not None and result.provider == "cash" else 0
    till_pk = principal.till_id
    if till_pk is None and cash and payment is not None and principal.can("orders"):
        till_pk = await till_sales.till_of_payment(conn, payment.reference)
    if till_pk is not None:
        await till_sales.record_sale(
            conn, order_pk, till_pk, staff_pk=principal.staff_user_id, cash=cash
        )


def _offline_key(priced: PricedCart, key: str, payment: PaymentRequest) -> str:
    """An offline tender's idempotency key: the same checkout recording the same
    tender gets the same payment id."""
    raw = "\x1f".join(
        [priced.cart.token, key, payment.provider, payment.reference or "", str(priced.total)]
    )
    return "hub-checkout-" + hashlib.sha256(raw.encode()).hexdigest()[:48]


class _CartMoved(Exception):
    pass

"""Split tender: several payments for one order (``checkoutComplete(payments:)``).

Each tender pays part of the total: a card (Stripe, or the test provider), cash (what
was handed over may exceed its amount: the change due is the difference), a card
terminal's reference, a gift card's code, a customer's store credit (one of their
store-credit gift cards, by id). The amounts must add up to what is due.

Who may use what: gift cards and a card anyone may; cash, a terminal and store credit
are taken at a till, by a staff principal with the ``orders`` permission at every
location the sale takes stock from.

**Order of taking: the hub's own first** (gift cards, store credit), then the card,
then cash and terminal records. The hub's own payments are local (one short
transaction each), exactly voidable, and the likeliest to be refused (a balance too
low, a card expired), so a refusal is found before an outside card is authorized: a
declined gift card never leaves a pending hold on the buyer's bank statement. Cash and
terminal payments are records of money the till already holds; they go last.

Safety is the single-payment checkout's (:mod:`hub.domain.checkout.service`), per
payment: every payment that moves money through the hub is recorded as a
``checkout_payments`` row before it is taken (in the transaction that claims the
attempt and reserves the stock), so a crash between two payments leaves rows the
reconciliation job (or a retry with the same key, which adopts them) settles: nothing
is taken twice or left held. When one tender fails, every one taken before it is given
back (gift cards and store credit re-credited by a void, a card's authorization
canceled, cash and terminal handed back) before the refusal is answered, the stock is
released and the cart unlocked: nothing is half-written. The order records its
payments in the order taken, so a refund goes back to them in that order
(:mod:`hub.domain.orders.refunds`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import PaymentError, PaymentIntentResult, PaymentUnavailable
from hub.auth import Principal
from hub.db.tables import cards_t, payments_t
from hub.domain.carts import PricedCart
from hub.domain.checkout import lease as leases
from hub.domain.checkout import payments
from hub.domain.checkout.codes import (
    OFFLINE_PROVIDERS,
    TEST_PROVIDER,
    CheckoutCode,
    CheckoutResult,
    Tender,
)
from hub.domain.checkout.order import LeaseLost, PromotionsMoved, write_order
from hub.domain.checkout.plan import Plan, check_payable, reserve
from hub.domain.errors import Code, DomainError, fail
from hub.domain.giftcards import DECLINE_CODES, GiftCardCode
from hub.domain.inventory import refuse
from hub.domain.orders import PaidWith
from hub.domain.till import sales as till_sales
from hub.events.outbox import Outbox
from hub.money import MoneyError, format_minor, parse_amount

if TYPE_CHECKING:
    from hub.domain.checkout.service import Checkout

log = logging.getLogger("hub.checkout.split")

METHODS = ("card", "cash", "terminal", "gift_card", "store_credit")
AT_A_TILL = frozenset({"cash", "terminal", "store_credit"})
CARD_PROVIDERS = frozenset({"stripe", TEST_PROVIDER})
MAX_TENDERS = 10
_RANK = {"gift_card": 0, "store_credit": 0, "card": 1, "cash": 2, "terminal": 2}


def taking_order(tenders: Sequence[Tender]) -> list[tuple[int, Tender]]:
    """(index given, tender) in the order they are taken (see the module docstring)."""
    return sorted(enumerate(tenders), key=lambda it: (_RANK[it[1].method], it[0]))


def _where(i: int, *more: str) -> tuple[str, ...]:
    return ("payments", str(i), *more)


def _minor(amount: Decimal, currency: str, *path: str) -> int:
    try:
        return parse_amount(amount, currency)
    except MoneyError as exc:
        raise fail(Code.INVALID, str(exc), *path) from None


def check_shape(tenders: Sequence[Tender], total: int, currency: str, principal: Principal) -> None:
    """What needs no database: methods, amounts (set in minor units of ``currency``),
    the sum, duplicates, who may."""
    if not tenders or len(tenders) > MAX_TENDERS:
        raise fail(Code.INVALID, f"pass 1 to {MAX_TENDERS} payments", "payments")
    codes: set[str] = set()
    for i, t in enumerate(tenders):
        t.minor = _minor(t.amount, currency, *_where(i, "amount"))
        if t.tendered is not None:
            t.tendered_minor = _minor(t.tendered, currency, *_where(i, "cash_tendered"))
        if t.method not in METHODS:
            raise fail(Code.INVALID, f"method is one of {', '.join(METHODS)}", *_where(i, "method"))
        if t.minor <= 0:
            raise fail(Code.INVALID, "amount must be above 0", *_where(i, "amount"))
        for value, name in ((t.reference, "reference"), (t.payment_method_id, "payment_method_id")):
            if value is not None and (
                len(value) > 255 or any(ord(c) < 32 or ord(c) == 127 for c in value)
            ):
                raise fail(
                    Code.INVALID,
                    f"{name} is at most 255 characters, without control characters",
                    *_where(i, name),
                )
        if t.method == "card" and t.provider not in CARD_PROVIDERS:
            raise fail(Code.INVALID, 'a card is paid with provider "stripe" or "test"', *_where(i))
        if t.method == "gift_card":
            code = (t.payment_method_id or "").strip().upper().replace("-", "")
            if not code:
                raise fail(Code.INVALID, "pass the gift card's code", *_where(i, "gift_card_code"))
            if code in codes:
                raise refuse(
                    CheckoutCode.TENDER_DUPLICATE_GIFT_CARD,
                    "the same gift card is named twice: pay its whole share once",
                    *_where(i, "gift_card_code"),
                )
            codes.add(code)
        if t.method == "cash" and t.tendered_minor is not None and t.tendered_minor < t.minor:
            raise refuse(
                CheckoutCode.TENDER_CASH_SHORT,
                "the cash handed over is less than the amount it pays",
                *_where(i, "cash_tendered"),
            )
        if t.method == "store_credit" and t.store_credit is None:
            raise fail(Code.INVALID, "pass the store credit's id", *_where(i, "store_credit_id"))
        if t.method in AT_A_TILL and not principal.can("orders"):
            raise refuse(
                CheckoutCode.TENDER_NOT_ALLOWED,
                f"{t.method} payments are taken at a till: they need a staff key with "
                "the orders permission",
                *_where(i, "method"),
            )
    paid = sum(t.minor for t in tenders)
    if paid != total:
        raise refuse(
            CheckoutCode.TENDER_SUM_MISMATCH,
            f"the payments add up to {format_minor(paid, currency)}; the order is "
            f"{format_minor(total, currency)}",
            "payments",
        )


async def check_against(
    conn: AsyncConnection,
    tenders: Sequence[Tender],
    priced: PricedCart,
    plan: Plan,
    principal: Principal,
) -> None:
    """What needs the cart and the database: the till's location is in the principal's
    scope, a store credit is the cart's customer's. Only a split tender at a till
    reads anything here."""
    at_till = [i for i, t in enumerate(tenders) if t.method in AT_A_TILL]
    if not at_till:
        return
    where = {loc for takes in plan.takes.values() for loc, _qty in takes}
    if any(not principal.may_location(loc, "orders") for loc in where):
        raise refuse(
            CheckoutCode.TENDER_NOT_ALLOWED,
            "this sale takes stock from a location outside your role's scope",
            *_where(at_till[0], "method"),
        )
    credits = {t.store_credit: i for i, t in enumerate(tenders) if t.method == "store_credit"}
    if not credits:
        return
    if len(credits) != sum(1 for t in tenders if t.method == "store_credit"):
        raise refuse(
            CheckoutCode.TENDER_DUPLICATE_GIFT_CARD,
            "the same store credit is named twice",
            "payments",
        )
    rows = (
        await conn.execute(
            select(cards_t.c.id, cards_t.c.customer_id).where(cards_t.c.id.in_(list(credits)))
        )
    ).all()
    owner = {r.id: r.customer_id for r in rows}
    customer = priced.cart.customer_id
    for pk, i in credits.items():
        if customer is None or owner.get(pk) != customer:
            raise refuse(
                CheckoutCode.TENDER_STORE_CREDIT_INVALID,
                "no store credit with that id belongs to the cart's customer",
                *_where(i, "store_credit_id"),
            )


async def change_of(conn: AsyncConnection, order_pk: int) -> int | None:
    """The change due on an order's cash payments (a replay answers it again)."""
    rows = (
        await conn.execute(
            select(payments_t.c.amount, payments_t.c.tendered).where(
                payments_t.c.order_id == order_pk, payments_t.c.tendered.is_not(None)
            )
        )
    ).all()
    return sum(max(0, r.tendered - r.amount) for r in rows) if rows else None


class _CartMoved(Exception):
    pass


async def run(
    co: Checkout,
    priced: PricedCart,
    plan: Plan,
    key: str,
    tenders: Sequence[Tender],
    principal: Principal,
) -> CheckoutResult | None:
    """The split-tender twin of ``Checkout._run``: claim, record every payment, reserve;
    then pay each in order and write the order (or give everything back)."""
    check_payable(priced, plan)
    check_shape(tenders, priced.total, priced.currency, principal)
    for t in tenders:
        if t.provider not in co.providers:
            offered = ", ".join(sorted(co.providers)) or "none"
            raise fail(
                Code.INVALID,
                f"no payment provider {t.provider!r} is configured (offered: {offered})",
                "payments",
            )
    async with co.db.read() as conn:
        await check_against(conn, tenders, priced, plan, principal)
    ordered = taking_order(tenders)
    cart = priced.cart
    token = secrets.token_hex(16)
    attempt = leases.Attempt(cart.id, key, token, f"checkout:{cart.token[:16]}:{token}")
    plans = [
        payments.PaymentPlan(
            provider=t.provider,
            method=t.payment_method_id,
            reference=t.reference or f"cart-{cart.token[:16]}",
            amount=t.minor,
            currency=priced.currency,
            store_method=payments.stores_method(co.providers[t.provider]),
        )
        for _i, t in ordered
        if t.provider not in OFFLINE_PROVIDERS
    ]
    try:
        async with co.db.transaction() as conn:
            claimed, got = await leases.claim_and_lock(
                conn, cart.id, cart.version, key, token, co.lease
            )
            if not claimed:
                return None
            if got is None:
                raise _CartMoved()
            rows, orphans = await payments.prepare_many(
                conn,
                cart.id,
                key,
                plans,
                test=any(p.provider == TEST_PROVIDER for p in plans),
                earlier=bool(got.open_payments),
            )
            it = iter(rows)
            attempt.split = [
                None if t.provider in OFFLINE_PROVIDERS else next(it) for _i, t in ordered
            ]
            attempt.tokens, events = await reserve(conn, priced, plan, co.lease, attempt.reference)
    except _CartMoved:
        return await co._why_not_locked(cart.id, cart.version)
    await co.publish(events)
    beat = leases.Heartbeat(co.db, attempt, co.lease)
    beat.start()
    try:
        if orphans:
            try:
                await co._release_earlier(attempt, payments.Prepared(0, "", False, orphans))
            except DomainError:  # nothing of this attempt was tried: settle its rows
                await _give_back_all(co, attempt, ordered, [], "superseded")
                raise
        taken = await _pay_all(co, priced, attempt, ordered)
        return await _order(co, priced, plan, attempt, ordered, taken, beat, principal)
    finally:
        await beat.stop()


async def _pay_all(
    co: Checkout,
    priced: PricedCart,
    attempt: leases.Attempt,
    ordered: list[tuple[int, Tender]],
) -> list[PaymentIntentResult]:
    """Take each tender in order; on a failure give back all taken and refuse."""
    taken: list[PaymentIntentResult] = []
    for n, (i, t) in enumerate(ordered):
        row = attempt.split[n]
        provider = co.providers[t.provider]
        if row is not None:
            key = row.provider_key
            meta = payments.metadata(attempt.cart_pk, row.pk)
        else:
            key = _offline_key(priced, attempt.key, n, t)
            meta = {"cart": str(attempt.cart_pk)}
        try:
            result = await provider.authorize(
                amount=t.minor,
                currency=priced.currency,
                payment_method_id=t.payment_method_id,
                reference=t.reference or f"cart-{priced.cart.token[:16]}",
                idempotency_key=key,
                metadata=meta,
            )
        except PaymentError as exc:
            await _settle(co, attempt, row, "FAILED", None)
            await _give_back_all(co, attempt, ordered, taken, "tender_failed")
            await co._undo(attempt)
            raise refuse(
                CheckoutCode.PAYMENT_INVALID,
                f"the payment was refused: {exc.message} ({exc.code})",
                *_where(i),
            ) from None
        except PaymentUnavailable:
            # Its outcome is unknown: its row stays, for a retry or the reconciliation.
            await _give_back_all(co, attempt, ordered, taken, "tender_failed")
            await co._undo(attempt)
            raise refuse(
                CheckoutCode.PAYMENT_UNAVAILABLE,
                f"the {t.method} payment can't be reached; what the others took was given "
                "back: retry with the same idempotencyKey",
                *_where(i),
            ) from None
        if result.status in ("authorized", "captured", "processing"):
            taken.append(result)
            if co.pause_file and n + 1 < len(ordered):
                await leases.pause(co.pause_file)  # tests: a kill -9 between two payments
            continue
        if result.status == "requires_action":
            taken.append(result)  # held: give it back with the others
            await _give_back_all(co, attempt, ordered, taken, "action_required")
            await co._undo(attempt)
            raise refuse(
                CheckoutCode.PAYMENT_ACTION_REQUIRED,
                "the card needs the buyer's action (3-D Secure), which this checkout "
                "can't complete; use another payment method",
                *_where(i),
            )
        await _settle(co, attempt, row, "FAILED", result)
        await _give_back_all(co, attempt, ordered, taken, "tender_failed")
        await co._undo(attempt)
        declined = result.failure_code or ""
        raise refuse(
            GiftCardCode(declined) if declined in DECLINE_CODES else CheckoutCode.PAYMENT_DECLINED,
            f"the {t.method} payment was declined ({result.failure_code or result.raw_status})"
            + (f": {result.failure_message}" if result.failure_message else ""),
            *_where(i),
        )
    if co.pause_file:
        await leases.pause(co.pause_file)
    return taken


async def _order(
    co: Checkout,
    priced: PricedCart,
    plan: Plan,
    attempt: leases.Attempt,
    ordered: list[tuple[int, Tender]],
    taken: list[PaymentIntentResult],
    beat: leases.Heartbeat,
    principal: Principal,
) -> CheckoutResult:
    split = [
        (
            PaidWith(
                result,
                t.reference or (f"cart-{priced.cart.token[:16]}" if row is None else None),
                t.tendered_minor if t.method == "cash" else None,
            ),
            row.pk if row is not None else None,
        )
        for (_i, t), row, result in zip(ordered, attempt.split, taken, strict=True)
    ]
    try:
        if beat.lost:
            raise LeaseLost()
        async with co.db.transaction() as conn:
            order_pk, events = await write_order(
                conn,
                Outbox(),
                priced,
                plan,
                attempt,
                None,
                None,
                store=principal.can("orders"),
                split=split,
            )
            await _at_till(conn, order_pk, principal, [t for _i, t in ordered])
    except BaseException as exc:
        await co._undo(attempt)
        await _give_back_all(co, attempt, ordered, taken, "order_not_written")
        if isinstance(exc, PromotionsMoved):
            raise refuse(
                CheckoutCode.DISCOUNT_NOT_AVAILABLE,
                "a discount ran out while checking out; review the cart's new total",
                "discount_codes",
            ) from None
        if isinstance(exc, LeaseLost):
            raise refuse(
                CheckoutCode.CHECKOUT_INTERRUPTED,
                "this checkout was interrupted (its hold on the cart and stock lapsed) "
                "and nothing was charged; retry",
                "cart_id",
            ) from None
        raise
    await co.publish(events)
    cash = [t for _i, t in ordered if t.method == "cash"]
    change = sum(t.change_due for t in cash) if cash else None
    return CheckoutResult(order_pk, change_due=change)


async def _at_till(
    conn: AsyncConnection, order_pk: int, principal: Principal, tenders: Sequence[Tender]
) -> None:
    """A sale at a till (a till's staff token, or cash whose reference is a till's
    code): the order is the till's, and the cash handed over and the change given go in
    the till's open session (:mod:`hub.domain.till.sales`)."""
    cash = [t for t in tenders if t.method == "cash"]
    till_pk = principal.till_id
    if till_pk is None and cash and principal.can("orders"):
        till_pk = await till_sales.till_of_payment(conn, cash[0].reference)
    if till_pk is None:
        return
    await till_sales.record_sale(
        conn,
        order_pk,
        till_pk,
        staff_pk=principal.staff_user_id,
        cash=sum(t.tendered_minor or t.minor for t in cash),
        change=sum(t.change_due for t in cash),
    )


async def _settle(
    co: Checkout,
    attempt: leases.Attempt,
    row: payments.Prepared | None,
    status: str,
    result: PaymentIntentResult | None,
) -> None:
    if row is not None:
        async with co.db.transaction() as conn:
            await payments.settle(conn, row.pk, attempt.key, status, result)


async def _give_back_all(
    co: Checkout,
    attempt: leases.Attempt,
    ordered: list[tuple[int, Tender]],
    taken: Sequence[PaymentIntentResult],
    why: str,
) -> None:
    """Give back every payment taken so far, last first, and settle the rows of those
    never tried (nothing taken: FAILED, so no reconciliation replays them). A payment
    whose provider can't be reached now stays recorded (its row open): the
    reconciliation job gives it back later."""
    tried = len(taken) + (1 if why == "tender_failed" else 0)
    untried = [row.pk for row in attempt.split[tried:] if row is not None]
    if untried:
        async with co.db.transaction() as conn:
            for pk in untried:
                await payments.settle(conn, pk, attempt.key, "FAILED", None)
    for n in reversed(range(len(taken))):
        row, result = attempt.split[n], taken[n]
        provider = co.providers[ordered[n][1].provider]
        try:
            if row is not None:
                await payments.release(
                    co.db,
                    co.providers,
                    row.pk,
                    reason=why,
                    publish=co.publish,
                    mine=(attempt.cart_pk, attempt.key),
                    known=result,
                )
            elif result.id:  # cash or terminal: record that it was handed back
                await provider.refund(result.id, idempotency_key=f"void-{result.id}"[:255])
        except Exception:
            log.exception("checkout: could not give back payment %s", result.id)


def _offline_key(priced: PricedCart, key: str, n: int, t: Tender) -> str:
    raw = "\x1f".join([priced.cart.token, key, str(n), t.provider, t.reference or "", str(t.minor)])
    return "hub-checkout-" + hashlib.sha256(raw.encode()).hexdigest()[:48]

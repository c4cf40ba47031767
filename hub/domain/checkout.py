"""checkoutComplete: a cart becomes an order, all or nothing.

The steps, and what undoes each if a later one fails:

1. **Price** the cart with :func:`hub.domain.carts.price_cart` (nothing from the
   client is trusted) and choose the stock location of every line (rule below).
2. **Claim and reserve**, one transaction: record the idempotency key as PENDING
   (``checkout_attempts``, per cart and key), lock the cart (``COMPLETING``, only if
   its version is still the one priced) and reserve every line's units through
   ``Inventory.reserve`` (one conditional UPDATE per line and location, bundles all or
   nothing). Any line short of stock rolls it all back: ``INSUFFICIENT_STOCK`` names
   every line concerned.
3. **Authorize** the payment with the chosen provider, outside any transaction, with a
   provider idempotency key derived from the cart, the key and what is paid.
4. **Order**, one transaction: commit the reservations (reserved -> committed), redeem
   the promotions (a usage limit or budget hit meanwhile rolls back and the cart is
   priced again next time), write the order, its lines and payment, an
   ``order.created`` event, mark the cart COMPLETED and the attempt DONE.

A decline (or any failure after step 2) releases the reservations, unlocks the cart
and forgets the attempt, so the cart stays usable and the same key may be retried;
an authorized payment whose order could not be written is canceled. The same key
after success returns the same order; a duplicate arriving while the first runs
waits for it (PostgreSQL blocks the second claim on the first's row; both databases
then poll the attempt) and returns its order, so one key makes one order.

Stock location rule. A pickup group takes every line from its pickup location. A
shipping group ships from locations that are active, ship, and sell to the cart's
channel, in fulfilment priority order (then id): first the one location that can send
every line of the group in full; else, per line, the first location that has the
whole line; else the line is split over locations in that order. Available means
sellable online (safety stock is kept back). Untracked variants reserve nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import TaxEngine
from connectors.payments.base import (
    PaymentError,
    PaymentIntentResult,
    PaymentProvider,
    PaymentUnavailable,
)
from hub import ids
from hub.auth import Principal
from hub.db.database import Database
from hub.db.models import CheckoutAttempt, Customer, Location, LocationChannel
from hub.domain import carts as cartsvc
from hub.domain.carts import CartCode, PricedCart, PricedLine, _customer_key, carts_t
from hub.domain.errors import Code, DomainError, UserError, fail
from hub.domain.giftcards import DECLINE_CODES
from hub.domain.inventory import Inventory, commit_reservations
from hub.domain.orders import insert_order
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger("hub.checkout")

attempts_t = CheckoutAttempt.__table__
locations_t = Location.__table__
loc_channels_t = LocationChannel.__table__
customers_t = Customer.__table__

OFFLINE_PROVIDERS = frozenset({"cash", "terminal"})


class CheckoutCode:
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_ACTION_REQUIRED = "PAYMENT_ACTION_REQUIRED"
    PAYMENT_INVALID = "PAYMENT_INVALID"
    PAYMENT_UNAVAILABLE = "PAYMENT_UNAVAILABLE"
    ACCESS_DENIED = "ACCESS_DENIED"
    EMPTY_CART = "EMPTY_CART"
    DISCOUNT_NOT_AVAILABLE = "DISCOUNT_NOT_AVAILABLE"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PaymentRequest:
    provider: str
    payment_method_id: str | None = None
    reference: str | None = None


@dataclass(slots=True)
class CheckoutResult:
    order_pk: int
    replayed: bool = False


@dataclass(slots=True)
class _Plan:
    """Where each line's units come from: line pk -> [(location pk, quantity)]."""

    takes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    short: list[PricedLine] = field(default_factory=list)


class _InTransaction:
    """Hands ``Inventory`` our open transaction (it asks its database for
    ``transaction()`` and ``read()``, both answered with our connection), so its
    reservations and commitments (each one conditional UPDATE with its ledger row and
    outbox event) become part of the checkout's transaction: all lines or none."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.dialect = conn.dialect.name

    @asynccontextmanager
    async def transaction(self) -> Any:
        yield self._conn

    @asynccontextmanager
    async def read(self) -> Any:
        # Inventory's single-statement paths run on "a connection of their own": here
        # that is ours too, so they commit (or roll back) with the checkout.
        yield self._conn


class Checkout:
    """The checkout service of one process."""

    def __init__(
        self,
        db: Database,
        *,
        tax_engine: TaxEngine | None,
        providers: Mapping[str, PaymentProvider],
        publish: Callable[[Sequence[Event]], Awaitable[None]] | None = None,
        reservation_ttl: timedelta = timedelta(minutes=15),
        wait: float = 30.0,
    ) -> None:
        self.db = db
        self.tax_engine = tax_engine
        self.providers = dict(providers)
        self._publish = publish
        self.reservation_ttl = reservation_ttl
        self.wait = wait

    async def publish(self, events: Sequence[Event]) -> None:
        if events and self._publish is not None:
            await self._publish(events)

    async def complete(
        self,
        token: str,
        key: str,
        payment: PaymentRequest | None,
        principal: Principal,
    ) -> CheckoutResult:
        key = key.strip()
        if not key or len(key) > 255:
            raise fail(Code.INVALID, "idempotencyKey is 1 to 255 characters", "idempotencyKey")
        deadline = asyncio.get_running_loop().time() + self.wait
        delay = 0.02
        for _ in range(1000):
            async with self.db.read() as conn:
                state = await cartsvc.load_cart(conn, token)
                if state is None or not cartsvc.may_use(state.cart, principal):
                    raise fail(Code.NOT_FOUND, "no cart with that id", "cartId")
                done = await _attempt(conn, state.cart.id, key)
                if done is not None and done.status == "DONE":
                    return CheckoutResult(done.order_id, replayed=True)
                if done is None:
                    cartsvc.check_readable(state, principal, _now())
                    if state.cart.status == "COMPLETED":
                        raise fail(
                            CartCode.ALREADY_COMPLETED,  # type: ignore[arg-type]
                            "the cart was checked out already",
                            "cartId",
                        )
                    priced = await cartsvc.price_cart(conn, state, tax_engine=self.tax_engine)
                    plan = await _plan(conn, priced)
            if done is None:
                outcome = await self._run(priced, plan, key, payment, principal)
                if outcome is not None:
                    return outcome
            # Someone else holds this key (or changed the cart meanwhile): wait, retry.
            if asyncio.get_running_loop().time() > deadline:
                raise fail(
                    CartCode.CHECKOUT_IN_PROGRESS,  # type: ignore[arg-type]
                    "this checkout is still running; retry with the same idempotencyKey",
                    "idempotencyKey",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run(
        self,
        priced: PricedCart,
        plan: _Plan,
        key: str,
        payment: PaymentRequest | None,
        principal: Principal,
    ) -> CheckoutResult | None:
        _check_payable(priced, plan)
        provider = self._provider(priced, payment, principal)
        cart = priced.cart
        # 2. claim the key, lock the cart, reserve the stock.
        try:
            async with self.db.transaction() as conn:
                claimed = await _claim(conn, cart.id, key, self.reservation_ttl)
                if not claimed:
                    return None  # another request runs this key: wait for it
                now = _now()
                locked = await conn.execute(
                    _LOCK_CART,
                    {
                        "cart": cart.id,
                        "version_": cart.version,
                        "now": now,
                        "until": now + self.reservation_ttl,
                    },
                )
                if locked.rowcount != 1:
                    raise _CartMoved()
                tokens, events = await _reserve(conn, priced, plan, self.reservation_ttl, key)
        except _CartMoved:
            return await self._why_not_locked(cart.id, cart.version)
        await self.publish(events)
        # 3. payment, outside any transaction.
        result: PaymentIntentResult | None = None
        if provider is not None:
            assert payment is not None
            try:
                result = await provider.authorize(
                    amount=priced.total,
                    currency=priced.currency,
                    payment_method_id=payment.payment_method_id,
                    reference=payment.reference or f"cart-{cart.token[:16]}",
                    idempotency_key=_payment_key(cart.token, key, payment, priced),
                    metadata={"cart": cart.token, "checkout": key[:100]},
                )
            except PaymentError as exc:
                await self._undo(cart.id, key, tokens)
                raise fail(
                    CheckoutCode.PAYMENT_INVALID,  # type: ignore[arg-type]
                    f"the payment was refused: {exc.message} ({exc.code})",
                    "payment",
                ) from None
            except PaymentUnavailable:
                await self._undo(cart.id, key, tokens)
                raise fail(
                    CheckoutCode.PAYMENT_UNAVAILABLE,  # type: ignore[arg-type]
                    "the payment provider can't be reached; retry with the same idempotencyKey",
                    "payment",
                ) from None
            if result.status not in ("authorized", "captured", "processing"):
                await self._undo(cart.id, key, tokens)
                if result.status == "requires_action":
                    await self._void(provider, result, key)
                    raise fail(
                        CheckoutCode.PAYMENT_ACTION_REQUIRED,  # type: ignore[arg-type]
                        "the payment needs the buyer's action (3-D Secure), which this "
                        "checkout can't complete; use another payment method",
                        "payment",
                    )
                raise fail(
                    result.failure_code  # a gift card's decline has a code of its own
                    if result.failure_code in DECLINE_CODES
                    else CheckoutCode.PAYMENT_DECLINED,  # type: ignore[arg-type]
                    f"the payment was declined ({result.failure_code or result.raw_status})"
                    + (f": {result.failure_message}" if result.failure_message else ""),
                    "payment",
                )
        # 4. the order.
        try:
            order_pk, events = await self._write_order(priced, plan, tokens, key, result, payment)
        except BaseException as exc:
            await self._undo(cart.id, key, tokens)
            if provider is not None and result is not None:
                await self._void(provider, result, key)
            if isinstance(exc, _PromotionsMoved):
                raise fail(
                    CheckoutCode.DISCOUNT_NOT_AVAILABLE,  # type: ignore[arg-type]
                    "a discount ran out while checking out; review the cart's new total",
                    "discountCodes",
                ) from None
            raise
        await self.publish(events)
        return CheckoutResult(order_pk)

    def _provider(
        self, priced: PricedCart, payment: PaymentRequest | None, principal: Principal
    ) -> PaymentProvider | None:
        if priced.total == 0:
            return None
        if payment is None:
            raise fail(
                CheckoutCode.PAYMENT_REQUIRED,  # type: ignore[arg-type]
                "the cart costs something: pass a payment",
                "payment",
            )
        name = payment.provider.strip().lower()
        provider = self.providers.get(name)
        if provider is None:
            offered = ", ".join(sorted(self.providers)) or "none"
            raise fail(
                Code.INVALID,
                f"no payment provider {name!r} is configured (offered: {offered})",
                "payment",
                "provider",
            )
        if name in OFFLINE_PROVIDERS and not principal.is_staff:
            raise fail(
                CheckoutCode.ACCESS_DENIED,  # type: ignore[arg-type]
                f"{name} payments are taken at a till: they need an admin (point-of-sale) key",
                "payment",
                "provider",
            )
        return provider

    async def _why_not_locked(self, cart_pk: int, version: int) -> CheckoutResult | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(carts_t).where(carts_t.c.id == cart_pk))).one()
        if row.status == "COMPLETED":
            raise fail(CartCode.ALREADY_COMPLETED, "the cart was checked out already", "cartId")  # type: ignore[arg-type]
        if row.expires_at <= _now():
            raise fail(CartCode.CART_EXPIRED, "the cart expired; create a new one", "cartId")  # type: ignore[arg-type]
        if row.status == "COMPLETING" and row.version == version:
            raise fail(
                CartCode.CHECKOUT_IN_PROGRESS,  # type: ignore[arg-type]
                "another checkout of this cart is running",
                "cartId",
            )
        return None  # the cart changed after it was priced: price it again

    async def _write_order(
        self,
        priced: PricedCart,
        plan: _Plan,
        tokens: dict[int, list[tuple[int, int, str]]],
        key: str,
        result: PaymentIntentResult | None,
        payment: PaymentRequest | None,
    ) -> tuple[int, list[Event]]:
        cart = priced.cart
        outbox = Outbox()
        events: list[Event] = []
        async with self.db.transaction() as conn:
            # The reservations become commitments; their events go in the order's
            # outbox, ahead of order.created (one INSERT for all of them).
            await commit_reservations(
                conn,
                [tok for takes in tokens.values() for _loc, _qty, tok in takes],
                outbox,
                products={ln.variant_pk: ln.product_pk for ln in priced.lines},
            )
            sellable = [ln for ln in priced.lines if ln.sellable]
            group_kind = {ln.pk: g.kind for g in priced.groups for ln in g.lines}
            order = {
                "cart_id": cart.id,
                "channel_id": cart.channel_id,
                "customer_id": cart.customer_id,
                "email": cart.email,
                "phone": cart.phone,
                "status": "OPEN",
                "fulfillment_status": "UNFULFILLED",
                "currency": priced.currency,
                "taxes_included": priced.taxes_included,
                "subtotal": priced.subtotal,
                "discount_total": priced.discount_total,
                "shipping_total": priced.shipping,
                "tax_total": priced.tax,
                "total": priced.total,
                "discount_codes": [c.code for c in priced.codes if c.applicable],
                "discounts": [
                    {
                        "promotionId": a.promotion_id,
                        "title": a.title,
                        "code": a.code,
                        "amount": a.amount,
                        "shipping": a.shipping_amount,
                    }
                    for a in priced.allocations
                ],
                "delivery": [
                    {
                        "kind": g.kind,
                        "address": g.address,
                        "locationId": g.location_pk,
                        "option": g.selected.handle if g.selected else None,
                        "shipping": g.shipping,
                        "shippingDiscount": g.shipping_discount,
                        "tax": g.tax,
                        "lineIds": [ln.pk for ln in g.lines],
                    }
                    for g in priced.groups
                ],
                "attributes": list(cart.attributes or ()),
                "note": cart.note,
            }
            lines = [
                {
                    "variant_id": ln.variant_pk,
                    "sku": ln.sku,
                    "title": ln.title[:512],
                    "quantity": ln.quantity,
                    "unit_price": ln.unit_price,
                    "compare_at": ln.compare_at,
                    "price_source": ln.price_source[:64],
                    "subtotal": ln.subtotal,
                    "discount": ln.discount,
                    "tax": ln.tax,
                    "total": ln.total,
                    "discount_allocations": [
                        {"promotionId": p, "title": t, "code": c, "amount": a}
                        for p, t, c, a in ln.allocations
                    ],
                    "allocations": [
                        {"locationId": loc, "quantity": q, "reservation": tok}
                        for loc, q, tok in tokens.get(ln.pk, [])
                    ]
                    or [{"locationId": loc, "quantity": q} for loc, q in plan.takes.get(ln.pk, [])],
                    "delivery_kind": group_kind.get(ln.pk, "SHIPPING"),
                }
                for ln in sellable
            ]
            order_pk = await insert_order(
                conn,
                outbox,
                order=order,
                lines=lines,
                payment=result,
                payment_reference=payment.reference if payment else None,
            )
            if priced.result is not None and priced.result.allocations:
                await _redeem(conn, priced, order_pk)
            if cart.customer_id is not None:
                await conn.execute(
                    update(customers_t)
                    .where(customers_t.c.id == cart.customer_id)
                    .values(orders_count=customers_t.c.orders_count + 1)
                )
            done = await conn.execute(
                _COMPLETE_CART, {"cart": cart.id, "order": order_pk, "now": _now()}
            )
            if done.rowcount != 1:
                raise RuntimeError("the cart's checkout lock was lost before the order was written")
            await conn.execute(_ATTEMPT_DONE, {"cart": cart.id, "key_": key, "order": order_pk})
            events += await outbox.flush(conn)
        return order_pk, events

    async def _undo(
        self, cart_pk: int, key: str, tokens: dict[int, list[tuple[int, int, str]]]
    ) -> None:
        """Release the reservations, unlock the cart and forget the attempt."""
        events: list[Event] = []
        try:
            async with self.db.transaction() as conn:
                inv = Inventory(_InTransaction(conn))  # type: ignore[arg-type]
                for takes in tokens.values():
                    for _loc, _qty, tok in takes:
                        try:
                            events += (await inv.release(tok)).events
                        except DomainError:
                            pass  # expired and released meanwhile
                await conn.execute(
                    update(carts_t)
                    .where(carts_t.c.id == cart_pk, carts_t.c.status == "COMPLETING")
                    .values(status="ACTIVE", locked_until=None)
                )
                await conn.execute(
                    delete(attempts_t).where(
                        attempts_t.c.cart_id == cart_pk,
                        attempts_t.c.key == key,
                        attempts_t.c.status == "PENDING",
                    )
                )
        except Exception:
            # The reservations then expire on their own and the cart's lock runs out.
            log.exception("checkout: undoing cart %s failed", cart_pk)
            return
        await self.publish(events)

    async def _void(self, provider: PaymentProvider, result: PaymentIntentResult, key: str) -> None:
        """Give back an authorization we won't use (a refund for offline tenders)."""
        if not result.id:
            return
        vkey = f"void-{hashlib.sha256(f'{result.id}:{key}'.encode()).hexdigest()[:40]}"
        try:
            if result.status == "captured":
                await provider.refund(result.id, idempotency_key=vkey)
            else:
                await provider.cancel(result.id, idempotency_key=vkey)
        except Exception:
            log.exception("checkout: could not cancel payment %s", result.id)


class _CartMoved(Exception):
    pass


class _PromotionsMoved(Exception):
    pass


_ATTEMPT = select(attempts_t).where(
    attempts_t.c.cart_id == bindparam("cart"), attempts_t.c.key == bindparam("key")
)


async def _attempt(conn: AsyncConnection, cart_pk: int, key: str) -> Any:
    row = (await conn.execute(_ATTEMPT, {"cart": cart_pk, "key": key})).first()
    if row is not None and row.status == "PENDING" and row.locked_until < _now():
        return None  # a crashed attempt: take it over
    return row


# The checkout's writes of its cart and attempt, built once (bound per call).
_CLAIM: dict[str, Any] = {}  # per dialect: INSERT .. ON CONFLICT DO NOTHING
_RECLAIM = (
    update(attempts_t)
    .where(
        attempts_t.c.cart_id == bindparam("cart"),
        attempts_t.c.key == bindparam("key_"),
        attempts_t.c.status == "PENDING",
        attempts_t.c.locked_until < bindparam("now"),
    )
    .values(locked_until=bindparam("until"))
)
_LOCK_CART = (
    update(carts_t)
    .where(
        carts_t.c.id == bindparam("cart"),
        carts_t.c.version == bindparam("version_"),
        carts_t.c.expires_at > bindparam("now"),
        or_(
            carts_t.c.status == "ACTIVE",
            and_(carts_t.c.status == "COMPLETING", carts_t.c.locked_until < bindparam("now")),
        ),
    )
    .values(status="COMPLETING", locked_until=bindparam("until"))
)
_COMPLETE_CART = (
    update(carts_t)
    .where(carts_t.c.id == bindparam("cart"), carts_t.c.status == "COMPLETING")
    .values(
        status="COMPLETED",
        order_id=bindparam("order"),
        locked_until=None,
        updated_at=bindparam("now"),
    )
)
_ATTEMPT_DONE = (
    update(attempts_t)
    .where(attempts_t.c.cart_id == bindparam("cart"), attempts_t.c.key == bindparam("key_"))
    .values(status="DONE", order_id=bindparam("order"))
)


async def _claim(conn: AsyncConnection, cart_pk: int, key: str, ttl: timedelta) -> bool:
    """Record the key as PENDING (or take over a stale PENDING one). False when
    another request holds it or finished it."""
    from hub.domain.inventory import _dialect_insert

    now = _now()
    stmt = _CLAIM.get(conn.dialect.name)
    if stmt is None:
        stmt = _CLAIM[conn.dialect.name] = (
            _dialect_insert(conn, attempts_t)
            .values(
                cart_id=bindparam("cart"),
                key=bindparam("key_"),
                status="PENDING",
                locked_until=bindparam("until"),
                created_at=bindparam("now"),
            )
            .on_conflict_do_nothing(index_elements=["cart_id", "key"])
            .returning(attempts_t.c.key)
        )
    params = {"cart": cart_pk, "key_": key, "until": now + ttl, "now": now}
    got = (await conn.execute(stmt, params)).first()
    if got is not None:
        return True
    took = await conn.execute(_RECLAIM, params)
    return took.rowcount == 1


def _check_payable(priced: PricedCart, plan: _Plan) -> None:
    if not priced.lines:
        raise fail(CheckoutCode.EMPTY_CART, "the cart has no lines", "cartId")  # type: ignore[arg-type]
    gone = [ln for ln in priced.lines if not ln.sellable]
    if gone:
        raise DomainError(
            [
                UserError(
                    ["lines", ln.id],
                    f"{ln.label} is no longer sold here; remove the line",
                    str(Code.INVALID),
                )
                for ln in gone
            ]
        )
    if plan.short:
        raise DomainError(
            [
                UserError(
                    ["lines", ln.id],
                    f"not enough {ln.sku} in stock for {ln.quantity}",
                    CheckoutCode.INSUFFICIENT_STOCK,
                )
                for ln in plan.short
            ]
        )


_CHANNEL_LOCATIONS = (
    select(locations_t.c.id, locations_t.c.ships, locations_t.c.fulfillment_priority)
    .join(
        loc_channels_t,
        and_(
            loc_channels_t.c.location_id == locations_t.c.id,
            loc_channels_t.c.channel_id == bindparam("channel"),
        ),
    )
    .where(locations_t.c.active.is_(True))
)


async def _plan(conn: AsyncConnection, priced: PricedCart) -> _Plan:
    """Choose each line's stock locations (the rule in the module docstring)."""
    plan = _Plan()
    cart = priced.cart
    rows = (await conn.execute(_CHANNEL_LOCATIONS, {"channel": cart.channel_id})).all()
    ship_from = [
        r.id for r in sorted(rows, key=lambda r: (r.fulfillment_priority, r.id)) if r.ships
    ]
    selling = {r.id for r in rows}
    left: dict[int, dict[int, int]] = {v: dict(locs) for v, locs in priced.stock.items()}
    for g in priced.groups:
        lines = [ln for ln in g.lines if ln.sellable and ln.tracked]
        if not lines:
            continue
        if g.kind == "PICKUP":
            loc = g.location_pk if g.location_pk in selling else None
            for ln in lines:
                have = left.get(ln.variant_pk, {}).get(loc, 0) if loc else 0
                if have >= ln.quantity:
                    plan.takes[ln.pk] = [(loc, ln.quantity)]  # type: ignore[list-item]
                    left[ln.variant_pk][loc] = have - ln.quantity  # type: ignore[index]
                else:
                    plan.short.append(ln)
            continue
        whole = next(
            (loc for loc in ship_from if all(_can(left, ln, loc) for ln in _merged(lines))),
            None,
        )
        for ln in lines:
            loc = (
                whole
                if whole is not None
                else next((x for x in ship_from if _can(left, ln, x)), None)
            )
            if loc is not None:
                plan.takes[ln.pk] = [(loc, ln.quantity)]
                left[ln.variant_pk][loc] -= ln.quantity
                continue
            takes, need = [], ln.quantity
            for x in ship_from:
                have = left.get(ln.variant_pk, {}).get(x, 0)
                if have > 0 and need > 0:
                    q = min(have, need)
                    takes.append((x, q))
                    need -= q
            if need > 0:
                plan.short.append(ln)
                continue
            for x, q in takes:
                left[ln.variant_pk][x] -= q
            plan.takes[ln.pk] = takes
    return plan


def _merged(lines: Sequence[PricedLine]) -> list[PricedLine]:
    """Lines of the same variant counted together (for the one-location test)."""
    by: dict[int, PricedLine] = {}
    for ln in lines:
        if ln.variant_pk in by:
            prev = by[ln.variant_pk]
            by[ln.variant_pk] = PricedLine(
                prev.pk,
                prev.variant_pk,
                prev.product_pk,
                prev.sku,
                prev.title,
                prev.quantity + ln.quantity,
                [],
                None,
                True,
                True,
                True,
            )
        else:
            by[ln.variant_pk] = ln
    return list(by.values())


def _can(left: Mapping[int, Mapping[int, int]], ln: PricedLine, loc: int) -> bool:
    return left.get(ln.variant_pk, {}).get(loc, 0) >= ln.quantity


async def _reserve(
    conn: AsyncConnection, priced: PricedCart, plan: _Plan, ttl: timedelta, key: str
) -> tuple[dict[int, list[tuple[int, int, str]]], list[Event]]:
    """Reserve every planned take inside the caller's transaction; a line whose stock
    went meanwhile raises INSUFFICIENT_STOCK for it (and the transaction rolls back)."""
    inv = Inventory(_InTransaction(conn))  # type: ignore[arg-type]
    ref = f"checkout:{priced.cart.token[:16]}"
    tokens: dict[int, list[tuple[int, int, str]]] = {}
    events: list[Event] = []
    by_pk = {ln.pk: ln for ln in priced.lines}
    for line_pk, takes in plan.takes.items():
        ln = by_pk[line_pk]
        for loc, qty in takes:
            try:
                out = await inv.reserve(
                    ln.variant_pk,
                    loc,
                    qty,
                    ttl=ttl,
                    reference=ref,
                )
            except DomainError as exc:
                if any(e.code == CheckoutCode.INSUFFICIENT_STOCK for e in exc.errors):
                    raise DomainError(
                        [
                            UserError(
                                ["lines", ln.id],
                                f"not enough {ln.sku} in stock for {ln.quantity}",
                                CheckoutCode.INSUFFICIENT_STOCK,
                            )
                        ]
                    ) from None
                raise
            tokens.setdefault(line_pk, []).append((loc, qty, out.result["reservation"]))
            events += out.events
    return tokens, events


async def _redeem(conn: AsyncConnection, priced: PricedCart, order_pk: int) -> None:
    try:
        from hub.domain.promotion_store import redeem
    except ImportError:  # pragma: no cover - before the promotion store exists
        return
    customer = priced.customer
    failures = await redeem(
        conn,
        priced.result,
        priced.promotions,
        order_ref=ids.encode("Order", order_pk),
        customer_key=_customer_key(priced.cart, customer),
        currency=priced.currency,
    )
    if failures:
        raise _PromotionsMoved()


def _payment_key(token: str, key: str, payment: PaymentRequest, priced: PricedCart) -> str:
    """The provider's idempotency key: the same checkout paying the same way reuses it
    (a retry never charges twice); another card or amount gets its own."""
    raw = "\x1f".join(
        [
            token,
            key,
            payment.provider,
            payment.payment_method_id or "",
            payment.reference or "",
            str(priced.total),
            priced.currency,
        ]
    )
    return "hub-checkout-" + hashlib.sha256(raw.encode()).hexdigest()[:48]

"""Checkout payments: recorded before they are taken, used once, released when orphaned.

A checkout attempt records its payment as a ``checkout_payments`` row (PENDING, with
the provider idempotency key every call for it uses) in the same transaction that
claims the attempt and reserves the stock, *before* it calls the provider. The row
becomes USED in the transaction that writes the order. So whatever happens in between
(a crash, a kill -9, a lost connection), the row says that money may have moved and
how to find it:

- **Reuse.** The next attempt on the cart (a retry with the same key after the lease
  lapsed, or with a new key) adopts an orphaned row that pays the same way (same
  provider, method, amount and currency: its ``fingerprint``) and calls the provider
  with the row's key: the provider answers the first payment (a gift card's debit, a
  Stripe PaymentIntent) instead of taking a second one.
- **Release.** Any other orphaned row of the cart is released by that attempt before
  it takes its own payment, and the reconciliation job (:func:`reconcile`, every
  ``HUB_PAYMENT_RECONCILE_SECONDS`` in ``hub serve`` on the embedded default, an arq
  job in ``hub worker`` with Redis) releases the rest: rows whose attempt is no longer
  running (its lease lapsed, it was undone, or its cart is gone) and that no order
  used. Releasing finds the payment (by its recorded id; else a gift card's debit by
  its key; else by replaying the provider call with the same idempotency key, which
  providers answer with the first outcome), then cancels an authorization or refunds
  a capture with an idempotency key of its own, marks the row RELEASED (FAILED when
  nothing was taken) and emits ``payment.reconciled`` through the outbox, once.

Each release claims its row first (``locked_until``), so two processes never release
one payment twice; a claim of a process that dies runs out. An orphan whose provider
can't be reached stays as it is (``last_error`` says why) and is tried again on the
next run; nothing is ever marked released that was not.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import (
    PaymentError,
    PaymentIntentResult,
    PaymentProvider,
    PaymentUnavailable,
)
from hub.db.database import Database
from hub.db.tables import attempts_t
from hub.db.tables import checkout_payments_t as payments_t
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger("hub.checkout.payments")


OPEN = ("PENDING", "AUTHORIZED")  # money may be held; the row is not settled
CLAIM = timedelta(seconds=60)  # how long a release may hold its claim
EVENT = "payment.reconciled"

Publish = Callable[[Sequence[Event]], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """What an attempt pays: the provider, its method and the amount."""

    provider: str
    method: str | None
    reference: str
    amount: int
    currency: str
    store_method: bool  # the method is no secret (kept, so the call can be replayed)

    @property
    def fingerprint(self) -> str:
        raw = "\x1f".join(
            [self.provider, self.method or "", self.reference, str(self.amount), self.currency]
        )
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Prepared:
    """The row this attempt pays with, and the cart's orphans it must release first."""

    pk: int
    provider_key: str
    reused: bool
    orphans: list[Any]


def metadata(cart_pk: int, payment_pk: int) -> dict[str, str]:
    """What the provider is told about a payment (the same on every replay)."""
    return {"cart": str(cart_pk), "hub_payment": str(payment_pk)}


def stores_method(provider: PaymentProvider) -> bool:
    """A provider that can look a payment up by its key (a gift card: the method is
    the card's secret code) never has its method stored; others are replayed."""
    return not callable(getattr(provider, "lookup", None))


_CART_OPEN = select(payments_t).where(
    payments_t.c.cart_id == bindparam("cart"), payments_t.c.status.in_(OPEN)
)
_ADOPT = (
    update(payments_t)
    .where(
        payments_t.c.id == bindparam("pk"),
        payments_t.c.status.in_(OPEN),
        or_(payments_t.c.locked_until.is_(None), payments_t.c.locked_until < bindparam("now")),
    )
    .values(attempt_key=bindparam("key_"), updated_at=bindparam("now"))
)


async def prepare(
    conn: AsyncConnection,
    cart_pk: int,
    key: str,
    plan: PaymentPlan,
    *,
    test: bool,
    earlier: bool = True,
) -> Prepared:
    """In the attempt's claiming transaction (the cart locked by it): adopt the cart's
    orphaned payment that pays the same way, or record a new PENDING one; the cart's
    other open payments are orphans to release before paying (no attempt of this cart
    but this one can be running: it holds the cart). ``earlier``: whether the cart has
    open payments at all (False spares their look-up)."""
    now = _now()
    rows = (await conn.execute(_CART_OPEN, {"cart": cart_pk})).all() if earlier else []
    same = next((r for r in rows if r.fingerprint == plan.fingerprint), None)
    if same is not None:
        got = await conn.execute(_ADOPT, {"pk": same.id, "key_": key, "now": now})
        if got.rowcount == 1:
            return Prepared(same.id, same.provider_key, True, [r for r in rows if r is not same])
    pk, provider_key = await _record_new(conn, cart_pk, key, plan, test=test, now=now)
    return Prepared(pk, provider_key, False, list(rows))


async def prepare_many(
    conn: AsyncConnection,
    cart_pk: int,
    key: str,
    plans: Sequence[PaymentPlan],
    *,
    test: bool,
    earlier: bool = True,
) -> tuple[list[Prepared], list[Any]]:
    """:func:`prepare` for a split tender: a row per plan (an orphan that pays the same
    way adopted, each once), and the cart's other open rows, to release first."""
    now = _now()
    rows = (await conn.execute(_CART_OPEN, {"cart": cart_pk})).all() if earlier else []
    taken: set[int] = set()
    out: list[Prepared] = []
    for plan in plans:
        same = next(
            (r for r in rows if r.fingerprint == plan.fingerprint and r.id not in taken), None
        )
        if same is not None:
            got = await conn.execute(_ADOPT, {"pk": same.id, "key_": key, "now": now})
            if got.rowcount == 1:
                taken.add(same.id)
                out.append(Prepared(same.id, same.provider_key, True, []))
                continue
        pk, provider_key = await _record_new(conn, cart_pk, key, plan, test=test, now=now)
        out.append(Prepared(pk, provider_key, False, []))
    return out, [r for r in rows if r.id not in taken]


async def _record_new(
    conn: AsyncConnection,
    cart_pk: int,
    key: str,
    plan: PaymentPlan,
    *,
    test: bool,
    now: datetime,
) -> tuple[int, str]:
    """A new PENDING row for ``plan``: its pk and provider idempotency key."""
    provider_key = "hub-pay-" + secrets.token_hex(20)
    pk = (
        await conn.execute(
            payments_t.insert().returning(payments_t.c.id),
            {
                "cart_id": cart_pk,
                "attempt_key": key,
                "provider": plan.provider,
                "provider_key": provider_key,
                "fingerprint": plan.fingerprint,
                "payment_method": plan.method if plan.store_method else None,
                "reference": plan.reference[:255],
                "amount": plan.amount,
                "currency": plan.currency,
                "status": "PENDING",
                "test": test,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).scalar_one()
    return pk, provider_key


async def settle(
    conn: AsyncConnection, pk: int, key: str, status: str, result: PaymentIntentResult | None
) -> None:
    """Record how this attempt's own payment ended (FAILED: declined or refused;
    RELEASED: voided by the attempt), if the attempt still owns it; in the caller's
    transaction."""
    await conn.execute(
        update(payments_t)
        .where(
            payments_t.c.id == pk,
            payments_t.c.attempt_key == key,
            payments_t.c.status.in_(OPEN),
        )
        .values(
            status=status,
            intent_id=(result.id or None) if result is not None else None,
            updated_at=_now(),
        )
    )


USE = (
    update(payments_t)
    .where(
        payments_t.c.id == bindparam("pk"),
        payments_t.c.attempt_key == bindparam("key_"),
        payments_t.c.status.in_(OPEN),
        or_(payments_t.c.locked_until.is_(None), payments_t.c.locked_until < bindparam("now")),
    )
    .values(
        status="USED",
        intent_id=bindparam("intent"),
        order_id=bindparam("order"),
        updated_at=bindparam("now"),
    )
)


# ------------------------------------------------------------------------ releasing


def _orphan() -> Any:
    """An open row whose attempt is not running (lapsed, undone, finished without it,
    or its cart deleted)."""
    live = exists().where(
        attempts_t.c.cart_id == payments_t.c.cart_id,
        attempts_t.c.key == payments_t.c.attempt_key,
        attempts_t.c.status == "PENDING",
        attempts_t.c.locked_until >= bindparam("now"),
    )
    return and_(payments_t.c.status.in_(OPEN), ~live)


def _releasable(mine: tuple[int, str] | None) -> Any:
    """An orphan, or (``mine``: the caller's running attempt, as (cart, key)) a row
    that attempt owns and gives up."""
    if mine is None:
        return _orphan()
    return or_(
        _orphan(),
        and_(
            payments_t.c.status.in_(OPEN),
            payments_t.c.cart_id == mine[0],
            payments_t.c.attempt_key == mine[1],
        ),
    )


_UNCLAIM = (
    update(payments_t)
    .where(payments_t.c.id == bindparam("pk"))
    .values(locked_until=None, last_error=bindparam("error"))
)
# After a failure: to the back of the queue (a payment whose provider stays down must
# not keep the job from the others), with why.
_FAILED = (
    update(payments_t)
    .where(payments_t.c.id == bindparam("pk"))
    .values(locked_until=None, last_error=bindparam("error"), updated_at=bindparam("now"))
)
ANNOUNCED = frozenset({"orphaned", "superseded"})  # recoveries: payment.reconciled


# The operations of a release, each on the caller's transaction. :func:`release` runs
# each in a transaction of its own: the claim is committed before the provider is
# called, and no transaction stays open across that call.


async def claim(
    conn: AsyncConnection, pk: int, now: datetime, mine: tuple[int, str] | None = None
) -> bool:
    """Claim payment ``pk`` for releasing (until ``now`` + the claim's time), if it is
    releasable (:func:`_releasable`) and nobody else holds it; whether it was."""
    stmt = (
        update(payments_t)
        .where(
            payments_t.c.id == pk,
            or_(payments_t.c.locked_until.is_(None), payments_t.c.locked_until < now),
            _releasable(mine),
        )
        .values(locked_until=now + CLAIM)
    )
    took = await conn.execute(stmt, {"now": now})
    return took.rowcount == 1


async def unclaim(conn: AsyncConnection, pk: int) -> None:
    """Give up the claim on payment ``pk`` (it turned out not to be releasable)."""
    await conn.execute(_UNCLAIM, {"pk": pk, "error": None})


async def release_failed(conn: AsyncConnection, pk: int, message: str) -> None:
    """Give up the claim on payment ``pk`` after its provider failed, saying why."""
    await conn.execute(_FAILED, {"pk": pk, "error": message[:255], "now": _now()})


async def mark_released(
    conn: AsyncConnection, row: Any, outcome: str, intent: str | None, reason: str
) -> list[Event] | None:
    """Mark the given-back payment ``row`` settled and, for a recovery, write its event
    to the outbox; the events written, or None when it was settled already (by
    someone else)."""
    outbox = Outbox()
    done = await conn.execute(
        update(payments_t)
        .where(payments_t.c.id == row.id, payments_t.c.status.in_(OPEN))
        .values(
            status="FAILED" if outcome == "nothing_taken" else "RELEASED",
            intent_id=intent,
            locked_until=None,
            last_error=None,
            updated_at=_now(),
        )
    )
    if done.rowcount != 1:
        return None
    if reason in ANNOUNCED:
        outbox.add(
            EVENT,
            {
                "paymentId": row.id,
                "cartId": row.cart_id,
                "provider": row.provider,
                "intentId": intent,
                "amount": row.amount,
                "currency": row.currency,
                "action": outcome,
                "reason": reason,
                "test": bool(row.test),
                "occurredAt": _now().isoformat(),
            },
        )
    return await outbox.flush(conn)


async def release(
    db: Database,
    providers: Mapping[str, PaymentProvider],
    pk: int,
    *,
    reason: str,
    publish: Publish | None = None,
    mine: tuple[int, str] | None = None,
    known: PaymentIntentResult | None = None,
) -> str:
    """Give back one payment that won't be used: claim it, give the money back
    through its provider, mark it. A recovery (``reason`` "orphaned": its attempt is
    gone; "superseded": a later attempt on the cart pays otherwise) is logged and
    emitted as ``payment.reconciled``, once. ``mine``: the calling attempt, which may
    give up its own row; ``known``: the provider's result, when the caller has it.

    Answers ``"settled"`` when the row is settled now (by us or by someone else
    meanwhile), ``"busy"`` when it is no orphan (its attempt runs) or another releaser
    holds it, ``"failed"`` when the provider failed (``last_error`` says why; the job
    tries again later)."""
    async with db.transaction() as conn:
        took = await claim(conn, pk, _now(), mine)
    if not took:
        return await _settled(db, pk)
    # Read again in a new statement: an attempt that adopted the row just before our
    # claim (PostgreSQL evaluates the claim's subquery on an older snapshot) wins.
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(payments_t).where(payments_t.c.id == pk, _releasable(mine)),
                {"now": _now()},
            )
        ).first()
    if row is None:
        async with db.transaction() as conn:
            await unclaim(conn, pk)
        return await _settled(db, pk)
    provider = providers.get(row.provider)
    try:
        if provider is None:
            raise PaymentUnavailable(f"the {row.provider!r} payment provider is not configured")
        found = known if known is not None else await _find(provider, row)
        outcome, final = await _give_back(provider, row, found)
    except (PaymentUnavailable, PaymentError) as exc:
        message = exc.message if isinstance(exc, PaymentError) else str(exc)
        log.warning(
            "payment %s (cart %s, %s %s): can't give it back yet: %s",
            row.id,
            row.cart_id,
            row.provider,
            row.provider_key,
            message,
        )
        async with db.transaction() as conn:
            await release_failed(conn, pk, message)
        return "failed"
    return await _record(db, row, outcome, final, reason, publish)


async def _record(
    db: Database,
    row: Any,
    outcome: str,
    final: PaymentIntentResult | None,
    reason: str,
    publish: Publish | None,
) -> str:
    """Mark a given-back payment settled and, for a recovery, queue its event: once,
    whoever else tried."""
    intent = final.id if final is not None and final.id else row.intent_id
    async with db.transaction() as conn:
        events = await mark_released(conn, row, outcome, intent, reason)
    if events is None:
        return "settled"
    (log.warning if reason in ANNOUNCED else log.info)(
        "payment %s (cart %s, %s %s, %s %s): %s (%s)",
        row.id,
        row.cart_id,
        row.provider,
        intent or "-",
        row.amount,
        row.currency,
        outcome,
        reason,
    )
    if events and publish is not None:
        await publish(events)
    return "settled"


async def _settled(db: Database, pk: int) -> str:
    async with db.read() as conn:
        status = (
            await conn.execute(select(payments_t.c.status).where(payments_t.c.id == pk))
        ).scalar()
    return "busy" if status in OPEN else "settled"


async def _find(provider: PaymentProvider, row: Any) -> PaymentIntentResult | None:
    """The payment as the provider has it now, or None when nothing was taken."""
    if row.intent_id:
        retrieve = getattr(provider, "retrieve", None)
        if callable(retrieve):
            return await retrieve(row.intent_id)
    lookup = getattr(provider, "lookup", None)
    if callable(lookup):
        return await lookup(row.provider_key)
    # Replay the call with the same idempotency key and parameters: the provider
    # answers the first outcome (or, if the first never reached it, makes it now, and
    # it is given back below like any other).
    return await provider.authorize(
        amount=row.amount,
        currency=row.currency,
        payment_method_id=row.payment_method,
        reference=row.reference,
        idempotency_key=row.provider_key,
        metadata=metadata(row.cart_id, row.id),
    )


async def _give_back(
    provider: PaymentProvider, row: Any, found: PaymentIntentResult | None
) -> tuple[str, PaymentIntentResult | None]:
    """Cancel an authorization, refund a capture; what was done and the result."""
    if found is None or found.status == "failed":
        return "nothing_taken", found
    if found.status in ("canceled", "refunded"):
        return "already_released", found
    key = f"hub-release-{row.provider_key}"[:255]
    if found.status == "captured" and getattr(provider, "voids_captured", False):
        # Taken at once and voidable as a whole (a gift card's debit): a void, not a
        # refund, says on its ledger that the payment was never used.
        return "voided", await provider.cancel(found.id, idempotency_key=key)
    if found.status in ("captured", "partially_refunded"):
        return "refunded", await provider.refund(found.id, idempotency_key=key)
    if found.status in ("authorized", "processing", "requires_action"):
        return "canceled", await provider.cancel(found.id, idempotency_key=key)
    raise PaymentError("unknown_status", f"payment {found.id} is {found.raw_status!r}")


_ORPHANS = (
    select(payments_t.c.id)
    .where(
        _orphan(),
        or_(payments_t.c.locked_until.is_(None), payments_t.c.locked_until < bindparam("now")),
        # Only those this process can give back (another may have more providers).
        payments_t.c.provider.in_(bindparam("providers", expanding=True)),
    )
    .order_by(payments_t.c.updated_at)
    .limit(bindparam("limit"))
)


async def reconcile(
    db: Database,
    providers: Mapping[str, PaymentProvider],
    *,
    publish: Publish | None = None,
    limit: int = 100,
) -> int:
    """Release payments taken for checkout attempts that never wrote their order (see
    the module docstring); how many were settled. Safe to run anywhere, any time."""
    async with db.read() as conn:
        params = {"now": _now(), "limit": limit, "providers": sorted(providers)}
        pks = (await conn.execute(_ORPHANS, params)).scalars().all()
    done = 0
    for pk in pks:
        try:
            if await release(db, providers, pk, reason="orphaned", publish=publish) == "settled":
                done += 1
        except Exception:  # one bad row must not stop the others
            log.exception("payment %s: reconciliation failed", pk)
    return done

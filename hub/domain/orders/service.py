"""``Orders``: the thin service of the order book's money (the container's
``hub.orders``). Each operation opens its own transactions, following checkout's
pattern (:mod:`hub.domain.orders.money`): record PENDING under the order's lock and
commit; call the provider outside any transaction; record the outcome with the
statuses derived again (:func:`hub.domain.orders.transitions.refresh`), the timeline
and the outbox events; publish after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from connectors.base import PaymentError, PaymentIntentResult, PaymentProvider, PaymentUnavailable
from hub.db.database import Database
from hub.db.tables import channels_t, order_txns_t, orders_t, payments_t, refund_lines_t, refunds_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.inventory.operations import quarantine
from hub.domain.orders import money
from hub.domain.orders.fulfillment_orders import release_unfulfilled
from hub.domain.orders.importer import EXTERNAL, ImportRequest, existing_import, import_order
from hub.domain.orders.records import OrderCode, RefundLineRecord, RefundRecord
from hub.domain.orders.refunds import check_key, finish_refund, plan_refund, refundable
from hub.domain.orders.timeline import record_event
from hub.domain.orders.transitions import (
    illegal,
    lock_order,
    now,
    refresh,
    require_open,
    unit_counts,
)
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger("hub.orders")

Publish = Callable[[Sequence[Event]], Awaitable[None]]
# A provider the hub has no client for (an imported order's marketplace): its money
# moves outside the hub, and the hub records what it is told.
RECORDED_OUTSIDE = "recorded outside the hub"


@dataclass(frozen=True, slots=True)
class CaptureResult:
    order_pk: int
    captured: int
    failed: list[str]


@dataclass(frozen=True, slots=True)
class CancelResult:
    order_pk: int
    refund: RefundRecord | None


class Orders:
    """Capture, cancel, refund, capture on fulfillment, reconcile (see module doc)."""

    def __init__(
        self,
        db: Database,
        providers: Mapping[str, PaymentProvider],
        publish: Publish | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self._publish = publish

    async def publish(self, events: Sequence[Event]) -> None:
        if events and self._publish is not None:
            await self._publish(events)

    # -- capture ----------------------------------------------------------------------

    async def capture(
        self,
        order_pk: int,
        amount: int | None = None,
        *,
        idempotency_key: str,
        actor: str,
    ) -> CaptureResult:
        """Capture ``amount`` (None: all that may be) of the order's authorizations.
        The same key replays the first capture (its open movements) and captures
        nothing more."""
        key = check_key(idempotency_key)
        outbox = Outbox()
        async with self.db.transaction() as conn:
            order = await lock_order(conn, order_pk)
            earlier = await money.movements_with_key(conn, order_pk, f"capture:{key}:")
            if earlier:
                todo = [
                    money.as_movement(r)
                    for r in earlier
                    if r.status == money.PENDING and r.kind == "CAPTURE"
                ]
            else:
                require_open(order, "captured")
                todo = await money.plan_capture(conn, order, amount, key, actor)
            events = await outbox.flush(conn)
        await self.publish(events)
        failed = await self._carry_out(order_pk, todo, actor)
        if failed and len(failed) == len(todo):
            raise fail(OrderCode.PAYMENT_FAILED, failed[0], "amount")  # nothing captured
        async with self.db.read() as conn:
            captured = (
                await conn.execute(
                    select(order_txns_t.c.amount, order_txns_t.c.status).where(
                        order_txns_t.c.order_id == order_pk,
                        order_txns_t.c.idempotency_key.like(f"capture:{key}:%"),
                        order_txns_t.c.kind == "CAPTURE",
                    )
                )
            ).all()
        took = sum(r.amount for r in captured if r.status == "SUCCESS")
        return CaptureResult(order_pk, took, failed)

    async def capture_for_fulfillment(self, order_pk: int, actor: str) -> CaptureResult | None:
        """When the order's channel captures ON_FULFILLMENT and units have shipped:
        capture all that is still due, once (the first fulfillment settles the money:
        a Stripe authorization is captured once, see :mod:`.money`). A no-op (None)
        otherwise, or when nothing is left to capture."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(channels_t.c.capture_mode)
                    .join(orders_t, orders_t.c.channel_id == channels_t.c.id)
                    .where(orders_t.c.id == order_pk)
                )
            ).first()
            if row is None or row.capture_mode != "ON_FULFILLMENT":
                return None
            counts = await unit_counts(conn, order_pk)
        if counts["fulfilled"] <= 0:
            return None
        try:
            return await self.capture(
                order_pk, None, idempotency_key=f"fulfillment-{order_pk}", actor=actor
            )
        except DomainError as exc:
            if exc.errors and exc.errors[0].code in (
                OrderCode.NOTHING_TO_CAPTURE,
                OrderCode.ILLEGAL_TRANSITION,
            ):
                return None
            raise

    # -- cancel -----------------------------------------------------------------------

    async def cancel(
        self,
        order_pk: int,
        *,
        reason: str,
        restock: bool = True,
        refund: bool = False,
        actor: str,
    ) -> CancelResult:
        """Cancel an OPEN order none of whose units were fulfilled: its open
        fulfillment orders are cancelled and every unit's commitment released through
        the ledger (``restock``: back to sale; else held in quarantine at its location
        for inspection), uncaptured authorizations voided, and with ``refund`` the
        captured money refunded to the original payment methods."""
        reason = (reason or "").strip()
        if not reason or len(reason) > 255:
            raise fail(Code.INVALID, "reason is 1 to 255 characters", "reason")
        outbox = Outbox()
        async with self.db.transaction() as conn:
            order = await lock_order(conn, order_pk)
            require_open(order, "cancelled")
            counts = await unit_counts(conn, order_pk)
            if counts["fulfilled"] > 0:
                raise illegal("units of this order were fulfilled: return them, or refund, instead")
            released = await release_unfulfilled(
                conn, outbox, order_pk, reason="order_cancelled", actor=actor,
                reference=f"order:{order_pk}",
            )  # fmt: skip
            if not restock:
                for variant_pk, location_pk, qty in released:
                    await quarantine(
                        conn, outbox, variant_pk, location_pk, {"quarantined": qty},
                        "order_cancelled_held", actor=actor,
                    )  # fmt: skip
            at = now()
            await conn.execute(
                update(orders_t)
                .where(orders_t.c.id == order_pk)
                .values(status="CANCELLED", cancel_reason=reason, cancelled_at=at)
            )
            voids = await money.plan_voids(conn, order, f"cancel-{order_pk}", actor)
            await record_event(
                conn, order_pk, "order.cancelled", actor=actor, message=reason,
                data={
                    "reason": reason, "restock": restock, "refund": refund,
                    "released": [
                        {"variantId": v, "locationId": loc, "quantity": q}
                        for v, loc, q in released
                    ],
                },
                outbox=outbox,
            )  # fmt: skip
            events = await outbox.flush(conn)
        await self.publish(events)
        await self._carry_out(order_pk, voids, actor)
        got = None
        if refund:
            async with self.db.read() as conn:
                left = await refundable(conn, order_pk)
            if left > 0:
                got = await self.refund(
                    order_pk, lines=[], amount=left, note=f"order cancelled: {reason}",
                    idempotency_key=f"cancel-{order_pk}", actor=actor,
                )  # fmt: skip
        return CancelResult(order_pk, got)

    # -- refund -----------------------------------------------------------------------

    async def refund(
        self,
        order_pk: int,
        *,
        lines: list[tuple[int, int]],
        shipping: int = 0,
        amount: int | None = None,
        note: str | None = None,
        idempotency_key: str,
        actor: str,
        return_pk: int | None = None,
    ) -> RefundRecord:
        """Refund to the original payment methods in order (see
        :mod:`hub.domain.orders.refunds`); idempotent per (order, key)."""
        key = check_key(idempotency_key)
        outbox = Outbox()
        async with self.db.transaction() as conn:
            order = await lock_order(conn, order_pk)
            refund_pk, todo, _created = await plan_refund(
                conn, order, lines=lines, shipping=shipping, amount=amount, note=note,
                key=key, actor=actor, return_pk=return_pk,
            )  # fmt: skip
            events = await outbox.flush(conn)
        await self.publish(events)
        if todo:
            await self._carry_out(order_pk, todo, actor)
        return await self.refund_record(refund_pk)

    async def refund_record(self, refund_pk: int) -> RefundRecord:
        async with self.db.read() as conn:
            row = (await conn.execute(select(refunds_t).where(refunds_t.c.id == refund_pk))).one()
            currency = (
                await conn.execute(select(orders_t.c.currency).where(orders_t.c.id == row.order_id))
            ).scalar_one()
            lines = (
                await conn.execute(
                    select(refund_lines_t)
                    .where(refund_lines_t.c.refund_id == refund_pk)
                    .order_by(refund_lines_t.c.id)
                )
            ).all()
        return RefundRecord(row, currency, [RefundLineRecord(r, currency) for r in lines])

    # -- import -----------------------------------------------------------------------

    async def import_order(self, req: ImportRequest, *, actor: str) -> tuple[int, bool]:
        """Import an order placed elsewhere (:mod:`hub.domain.orders.importer`), once per
        (source, external id): (order pk, created)."""
        outbox = Outbox()
        try:
            async with self.db.transaction() as conn:
                pk, created = await import_order(conn, outbox, req, actor=actor)
                events = await outbox.flush(conn)
        except IntegrityError:
            # A concurrent import of the same (source, external id) won the race.
            async with self.db.read() as conn:
                found = await existing_import(conn, req.source, req.external_id)
            if found is None:
                raise
            return found, False
        await self.publish(events)
        return pk, created

    # -- the provider calls and their outcomes ----------------------------------------

    async def _carry_out(
        self, order_pk: int, todo: Sequence[money.Movement], actor: str
    ) -> list[str]:
        """Call the provider for each movement (outside any transaction), then record
        every outcome in one transaction. A provider that can't be reached leaves its
        movement PENDING for the reconciliation job. Returns the refusals' messages."""
        outcomes: list[tuple[money.Movement, PaymentIntentResult | None, str | None]] = []
        for m in todo:
            try:
                outcomes.append((m, await self._call(m), None))
            except PaymentUnavailable as exc:
                log.warning("order %s: %s %s left PENDING: %s", order_pk, m.kind, m.txn_pk, exc)
            except PaymentError as exc:
                outcomes.append((m, None, f"{exc.code}: {exc.message}"))
        if not outcomes:
            return []
        await self._record(order_pk, outcomes, actor)
        return [e for _, _, e in outcomes if e]

    async def _call(self, m: money.Movement) -> PaymentIntentResult | None:
        provider = self.providers.get(m.provider)
        if provider is None:
            if m.provider == EXTERNAL:
                return None  # recorded outside the hub (an imported order's payment)
            # A process configured without this payment's provider (a worker missing
            # the Stripe key, say) must not record money it never moved: the movement
            # stays PENDING until a process that has the provider settles it.
            raise PaymentUnavailable(f"payment provider {m.provider!r} is not configured")
        if m.kind == "CAPTURE":
            return await provider.capture(m.intent_id, m.amount, idempotency_key=m.key)
        if m.kind == "VOID":
            return await provider.cancel(m.intent_id, idempotency_key=m.key)
        return await provider.refund(m.intent_id, m.amount, idempotency_key=m.key)

    async def _record(
        self,
        order_pk: int,
        outcomes: Sequence[tuple[money.Movement, PaymentIntentResult | None, str | None]],
        actor: str,
    ) -> None:
        outbox = Outbox()
        async with self.db.transaction() as conn:
            order = await lock_order(conn, order_pk)
            refunds: set[int] = set()
            for m, result, error in outcomes:
                if result is None and error is None:
                    result = _outside(m, order.currency)
                if not await money.settle(conn, m, result, error, actor=actor):
                    continue
                kind = _EVENT[m.kind] if not error else f"payment.{m.kind.lower()}_failed"
                await record_event(
                    conn, order_pk, kind,
                    actor=actor,
                    message=error or f"{m.kind.lower()} of {m.amount} {order.currency}",
                    data={"amount": m.amount, "provider": m.provider, "paymentId": m.payment_pk,
                          "transactionId": m.txn_pk, **({"error": error} if error else {})},
                    outbox=outbox if not error else None,
                )  # fmt: skip
                if m.refund_pk is not None:
                    refunds.add(m.refund_pk)
            for refund_pk in sorted(refunds):
                status = await finish_refund(conn, refund_pk)
                if status == "SUCCESS":
                    amt = (
                        await conn.execute(
                            select(refunds_t.c.amount).where(refunds_t.c.id == refund_pk)
                        )
                    ).scalar_one()
                    await record_event(
                        conn, order_pk, "refund.created", actor=actor,
                        message=f"refund of {amt} {order.currency}",
                        data={"refundId": refund_pk, "amount": amt}, outbox=outbox,
                    )  # fmt: skip
            await refresh(conn, outbox, order, actor=actor)
            events = await outbox.flush(conn)
        await self.publish(events)

    # -- reconciliation ---------------------------------------------------------------

    async def reconcile(self, older_than: timedelta = timedelta(seconds=60)) -> int:
        """Replay every movement left PENDING longer than ``older_than`` (a crash
        between recording it and its outcome, or a provider that could not be
        reached) with its own idempotency key, and record the outcome. How many were
        settled."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(order_txns_t, payments_t.c.intent_id)
                    .join(payments_t, payments_t.c.id == order_txns_t.c.payment_id)
                    .where(
                        order_txns_t.c.status == money.PENDING,
                        order_txns_t.c.created_at < now() - older_than,
                    )
                    .order_by(order_txns_t.c.order_id, order_txns_t.c.id)
                    .limit(200)
                )
            ).all()
        by_order: dict[int, list[money.Movement]] = {}
        for r in rows:
            by_order.setdefault(r.order_id, []).append(money.as_movement(r))
        settled = 0
        for order_pk, todo in by_order.items():
            before = len(todo)
            await self._carry_out(order_pk, todo, "reconciliation")
            async with self.db.read() as conn:
                still = (
                    await conn.execute(
                        select(order_txns_t.c.id).where(
                            order_txns_t.c.id.in_([m.txn_pk for m in todo]),
                            order_txns_t.c.status == money.PENDING,
                        )
                    )
                ).all()
            settled += before - len(still)
        return settled


_EVENT = {"CAPTURE": "payment.captured", "VOID": "payment.voided", "REFUND": "payment.refunded"}


def _outside(m: money.Movement, currency: str) -> PaymentIntentResult:
    """The outcome of a movement of money the hub does not hold (see RECORDED_OUTSIDE)."""
    return PaymentIntentResult(
        provider=m.provider, id=m.intent_id, status="captured", amount=m.amount,
        currency=currency, amount_captured=m.amount if m.kind == "CAPTURE" else 0,
        amount_refunded=m.amount if m.kind == "REFUND" else 0, failure_code=None,
        failure_message=RECORDED_OUTSIDE, raw_status="recorded",
    )  # fmt: skip

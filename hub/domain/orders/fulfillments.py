"""The fulfilment service: each staff action on fulfillment orders in a transaction of
its own (opened, committed, its outbox events published after the commit), the
channel's order settings, and the pickup-expiry job.

The operations themselves are in ``fulfillment`` (transitions), ``fulfil``
(fulfilments, pickups, tracking) and ``reroute`` (reroute, pickup expiry); they take
the caller's connection and never commit.

Money, after each commit, through the order book's service (``hub.orders``,
:class:`hub.domain.orders.service.Orders`): a fulfilment asks it to capture what the
shipped units are worth when the channel captures ON_FULFILLMENT
(``capture_for_fulfillment``); an expired pickup's released units are refunded
(``refund``, idempotency key ``pickup-expired:<fulfillment order gid>``). Either
failing leaves the stock move committed and is logged. A capture is settled by the
order book's reconciliation or by staff (``orderCapture``); an expired pickup's refund
stays DUE on its fulfillment order (``expiry_refund``) until it succeeded, the
provider refused it (FAILED) or the order book did (REFUSED), and each run of the job
tries the DUE ones again under the same key (:meth:`Fulfillments.retry_expiry_refunds`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database
from hub.db.tables import channels_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.orders import aisle, fulfil, fulfillment, reroute
from hub.domain.orders.fulfil import Tracking
from hub.domain.orders.records import OrderCode
from hub.domain.orders.service import Orders
from hub.events.bus import Event
from hub.events.outbox import Outbox

log = logging.getLogger("hub.fulfillments")

T = TypeVar("T")
Publish = Callable[[Sequence[Event]], Awaitable[None]]
Op = Callable[[AsyncConnection, Outbox], Awaitable[T]]

CAPTURE_MODES = ("AT_CHECKOUT", "ON_FULFILLMENT")
PICKUP_BATCH = 100


class Fulfillments:
    def __init__(
        self, db: Database, orders: Orders | None = None, publish: Publish | None = None
    ) -> None:
        self.db = db
        self.orders = orders  # the order book's money (None: a hub without payments)
        self._publish = publish

    async def _run(self, op: Op[T]) -> T:
        async with self.db.transaction() as conn:
            outbox = Outbox()
            result = await op(conn, outbox)
            events = await outbox.flush(conn)
        if events and self._publish is not None:
            await self._publish(events)
        return result

    async def _fo(self, fn: Callable[..., Awaitable[Any]], fo_pk: int, *args: Any) -> int:
        async def op(conn: AsyncConnection, outbox: Outbox) -> int:
            await fn(conn, outbox, fo_pk, *args)
            return fo_pk

        return await self._run(op)

    async def accept(self, fo_pk: int, actor: str) -> int:
        return await self._fo(fulfillment.accept, fo_pk, actor)

    async def start(self, fo_pk: int, actor: str) -> int:
        return await self._fo(fulfillment.start, fo_pk, actor)

    async def hold(self, fo_pk: int, reason: str | None, actor: str) -> int:
        return await self._fo(fulfillment.hold, fo_pk, reason, actor)

    async def release(self, fo_pk: int, actor: str) -> int:
        return await self._fo(fulfillment.release, fo_pk, actor)

    async def transfer_to_store(self, fo_pk: int, actor: str) -> int:
        """Endless aisle: send the pickup's units to its store (the transfer's pk)."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> int:
            return int((await aisle.ship_to_store(conn, outbox, fo_pk, actor))["transfer"])

        return await self._run(op)

    async def ready_for_pickup(self, fo_pk: int, actor: str) -> int:
        return await self._fo(fulfillment.ready_for_pickup, fo_pk, actor)

    async def customer_arrived(self, fo_pk: int, note: str | None, actor: str) -> int:
        return await self._fo(fulfillment.customer_arrived, fo_pk, note, actor)

    async def reroute(self, fo_pk: int, location_pk: int, actor: str) -> int:
        return await self._fo(reroute.reroute, fo_pk, location_pk, actor)

    async def create(
        self,
        fo_pk: int,
        lines: Sequence[tuple[int, int]] | None,
        tracking: Tracking | None,
        actor: str,
        serials: Mapping[int, Sequence[str]] | None = None,
    ) -> int:
        """A shipment from fulfillment order ``fo_pk``; the fulfilment's pk. ``serials``:
        fulfillment order line pk -> the serial numbers of its units that leave."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> tuple[int, int]:
            return await fulfil.fulfil(
                conn, outbox, fo_pk, lines, tracking, actor=actor, serials=serials
            )

        f_pk, order_pk = await self._run(op)
        await self._capture(order_pk, actor)
        return f_pk

    async def picked_up(
        self, fo_pk: int, actor: str, serials: Mapping[int, Sequence[str]] | None = None
    ) -> int:
        """The customer collected a ready pickup: every remaining unit leaves (with
        ``serials`` as in :meth:`create`)."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> tuple[int, int]:
            return await fulfil.fulfil(
                conn, outbox, fo_pk, None, None, actor=actor, pickup=True,
                serials=serials, serials_field="serials",
            )  # fmt: skip

        f_pk, order_pk = await self._run(op)
        await self._capture(order_pk, actor)
        return f_pk

    async def _capture(self, order_pk: int, actor: str) -> None:
        """Capture on fulfilment (the channel's setting decides; a no-op otherwise)."""
        if self.orders is None:
            return
        try:
            await self.orders.capture_for_fulfillment(order_pk, actor)
        except DomainError as exc:
            log.warning(
                "capture on fulfilment of order %s refused: %s",
                order_pk,
                "; ".join(e.message for e in exc.errors),
            )

    async def update_tracking(self, fulfillment_pk: int, tracking: Tracking, actor: str) -> int:
        async def op(conn: AsyncConnection, outbox: Outbox) -> int:
            await fulfil.update_tracking(conn, outbox, fulfillment_pk, tracking, actor)
            return fulfillment_pk

        return await self._run(op)

    async def set_channel_settings(
        self, channel_pk: int, *, routing_strategy: str | None, capture_mode: str | None
    ) -> int:
        """A channel's routing strategy and capture mode (those given)."""
        values: dict[str, Any] = {}
        if routing_strategy is not None:
            values["routing_strategy"] = routing_strategy
        if capture_mode is not None:
            if capture_mode not in CAPTURE_MODES:
                raise fail(Code.INVALID, "unknown capture mode", "capture_mode")
            values["capture_mode"] = capture_mode
        async with self.db.transaction() as conn:
            found = (
                await conn.execute(select(channels_t.c.id).where(channels_t.c.id == channel_pk))
            ).first()
            if found is None:
                raise fail(Code.NOT_FOUND, "no channel with that id", "channel_id")
            if values:
                await conn.execute(
                    update(channels_t).where(channels_t.c.id == channel_pk).values(**values)
                )
        return channel_pk

    async def expire_pickups(
        self, limit: int = PICKUP_BATCH, *, now: datetime | None = None
    ) -> int:
        """The pickup-window job: cancel ready pickups past their deadline (as of
        ``now``, default: now) and release their stock, each in a transaction of its
        own, then refund what they released; a refund an earlier run could not finish
        (still DUE: the provider was down) is tried again. How many expired."""
        now = now or datetime.now(UTC)
        async with self.db.read() as conn:
            due = await reroute.expired_pickups(conn, now, limit)
        done = 0
        for fo_pk in due:

            async def op(
                conn: AsyncConnection, outbox: Outbox, fo_pk: int = fo_pk
            ) -> tuple[int, list[tuple[int, int]]] | None:
                return await reroute.expire_pickup(conn, outbox, fo_pk, now)

            got = await self._run(op)
            if got is not None:
                done += 1
                await self._refund_expired(fo_pk, *got)
        await self.retry_expiry_refunds(limit)
        return done

    async def retry_expiry_refunds(self, limit: int = PICKUP_BATCH) -> int:
        """Refund again the expired pickups whose refund is still DUE (same idempotency
        key: an existing PENDING refund is carried out, never a second one); how many
        were settled (DONE, FAILED or REFUSED)."""
        if self.orders is None:
            return 0
        async with self.db.read() as conn:
            todo = await reroute.refunds_due(conn, limit)
        settled = 0
        for fo_pk, order_pk, lines in todo:
            if await self._refund_expired(fo_pk, order_pk, lines) != "DUE":
                settled += 1
        if todo:
            log.info("retried %d expired pickups' refunds, %d settled", len(todo), settled)
        return settled

    async def _refund_expired(
        self, fo_pk: int, order_pk: int, lines: Sequence[tuple[int, int]]
    ) -> str:
        """Refund an expired pickup's released units (once: keyed by the pickup) and
        record the outcome on the fulfillment order: DONE, FAILED (the provider
        refused), REFUSED (the order book refused), or still DUE (not settled yet: the
        provider could not be reached, or the hub failed; retried by the next run)."""
        if self.orders is None:
            return "DUE"
        state = "DUE" if lines else "REFUSED"
        try:
            if not lines:
                raise fail(OrderCode.NOTHING_TO_REFUND, "no released units", "lines")
            record = await self.orders.refund(
                order_pk,
                lines=list(lines),
                note="pickup not collected within the store's pickup window",
                idempotency_key=f"pickup-expired:{ids.encode('FulfillmentOrder', fo_pk)}",
                actor="system",
            )
            state = {"SUCCESS": "DONE", "FAILED": "FAILED"}.get(record.status, "DUE")
        except DomainError as exc:
            state = "REFUSED"
            log.warning(
                "refund of expired pickup %s (order %s) refused: %s",
                fo_pk,
                order_pk,
                "; ".join(e.message for e in exc.errors),
            )
        except Exception:
            log.exception("refund of expired pickup %s (order %s) failed", fo_pk, order_pk)
        if state == "DUE":
            log.warning("refund of expired pickup %s (order %s) not settled yet", fo_pk, order_pk)
            return state

        async def op(conn: AsyncConnection, outbox: Outbox) -> None:
            await reroute.settle_expiry_refund(conn, fo_pk, state)

        await self._run(op)
        return state

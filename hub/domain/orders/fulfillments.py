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
failing leaves the stock move committed and is logged: the payment is settled by the
order book's reconciliation or by staff (``orderCapture``, ``refundCreate``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub import ids
from hub.db.database import Database
from hub.db.tables import channels_t
from hub.domain.errors import Code, DomainError, fail
from hub.domain.orders import fulfil, fulfillment, reroute
from hub.domain.orders.fulfil import Tracking
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
    ) -> int:
        """A shipment from fulfillment order ``fo_pk``; the fulfilment's pk."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> tuple[int, int]:
            return await fulfil.fulfil(conn, outbox, fo_pk, lines, tracking, actor=actor)

        f_pk, order_pk = await self._run(op)
        await self._capture(order_pk, actor)
        return f_pk

    async def picked_up(self, fo_pk: int, actor: str) -> int:
        """The customer collected a ready pickup: every remaining unit leaves."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> tuple[int, int]:
            return await fulfil.fulfil(conn, outbox, fo_pk, None, None, actor=actor, pickup=True)

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
        own; how many expired."""
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
        return done

    async def _refund_expired(
        self, fo_pk: int, order_pk: int, lines: Sequence[tuple[int, int]]
    ) -> None:
        """Refund an expired pickup's released units (once: keyed by the pickup)."""
        if self.orders is None or not lines:
            return
        try:
            await self.orders.refund(
                order_pk,
                lines=list(lines),
                note="pickup not collected within the store's pickup window",
                idempotency_key=f"pickup-expired:{ids.encode('FulfillmentOrder', fo_pk)}",
                actor="system",
            )
        except DomainError as exc:
            log.warning(
                "refund of expired pickup %s (order %s) refused: %s",
                fo_pk,
                order_pk,
                "; ".join(e.message for e in exc.errors),
            )

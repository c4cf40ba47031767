"""The fulfilment service: each staff action on fulfillment orders in a transaction of
its own (opened, committed, its outbox events published after the commit), the
channel's order settings, and the pickup-expiry job.

The operations themselves are in ``fulfillment`` (transitions), ``fulfil``
(fulfilments, pickups, tracking) and ``reroute`` (reroute, pickup expiry); they take
the caller's connection and never commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.db.database import Database
from hub.db.tables import channels_t
from hub.domain.errors import Code, fail
from hub.domain.orders import fulfil, fulfillment, reroute
from hub.domain.orders.fulfil import Tracking
from hub.events.bus import Event
from hub.events.outbox import Outbox

T = TypeVar("T")
Publish = Callable[[Sequence[Event]], Awaitable[None]]
Op = Callable[[AsyncConnection, Outbox], Awaitable[T]]

CAPTURE_MODES = ("AT_CHECKOUT", "ON_FULFILLMENT")
PICKUP_BATCH = 100


class Fulfillments:
    def __init__(self, db: Database, publish: Publish | None = None) -> None:
        self.db = db
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

        async def op(conn: AsyncConnection, outbox: Outbox) -> int:
            return await fulfil.fulfil(conn, outbox, fo_pk, lines, tracking, actor=actor)

        return await self._run(op)

    async def picked_up(self, fo_pk: int, actor: str) -> int:
        """The customer collected a ready pickup: every remaining unit leaves."""

        async def op(conn: AsyncConnection, outbox: Outbox) -> int:
            return await fulfil.fulfil(conn, outbox, fo_pk, None, None, actor=actor, pickup=True)

        return await self._run(op)

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

            if await self._run(op) is not None:
                done += 1
        return done

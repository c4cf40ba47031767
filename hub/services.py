"""The hub's long-lived services for one process: event bus, inventory, the outbox
sweeper and, on the embedded default, the in-process reservation expiry job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from hub.db.database import Database
from hub.domain.inventory import Inventory
from hub.events.bus import Event, EventBus, create_bus
from hub.events.outbox import OutboxDispatcher, publish_committed
from hub.settings import Settings

log = logging.getLogger("hub.services")


class Services:
    def __init__(self, settings: Settings, db: Database, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus or create_bus(settings)
        self.inventory = Inventory(db, publish=self.publish)
        self.dispatcher = OutboxDispatcher(db, self.bus)
        self._expiry: asyncio.Task[None] | None = None
        self.started = False

    async def publish(self, events: Sequence[Event]) -> None:
        await publish_committed(self.db, self.bus, events)

    async def start(self) -> None:
        if self.started:
            return
        await self.bus.start()
        await self.dispatcher.start()
        if self.settings.redis_url is None:
            # Embedded default: no worker process, so expire reservations here.
            self._expiry = asyncio.create_task(self._expire_loop(), name="hub-expiry")
        self.started = True

    async def _expire_loop(self) -> None:
        interval = self.settings.reservation_sweep_seconds
        while True:
            try:
                released = await self.inventory.release_expired()
                if released:
                    log.info("released %d expired reservations", released)
            except Exception:  # keep the loop alive; log and retry next round
                log.exception("reservation expiry failed")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
            self._expiry = None
        await self.dispatcher.stop()
        await self.bus.close()
        self.started = False

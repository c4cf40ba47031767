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
from hub.events.outbox import OutboxDispatcher, PublishedMarker, publish_committed
from hub.settings import Settings

log = logging.getLogger("hub.services")


class Services:
    def __init__(self, settings: Settings, db: Database, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus or create_bus(settings)
        self.inventory = Inventory(db, publish=self.publish)
        self.dispatcher = OutboxDispatcher(db, self.bus)
        self.marker = PublishedMarker(db)
        self._expiry: asyncio.Task[None] | None = None
        self.started = False

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish committed events now; mark them published in the background (in
        one batch with the others of the moment) once the services run."""
        if not self.marker.running:
            await publish_committed(self.db, self.bus, events)
            return
        if not events:
            return
        try:
            await self.bus.publish(events)
        except Exception:
            log.exception(
                "outbox: publishing %d events failed; the sweeper will retry", len(events)
            )
            return
        self.marker.add([e.id for e in events])

    async def start(self) -> None:
        if self.started:
            return
        await self.bus.start()
        await self.dispatcher.start()
        self.marker.start()
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
        await self.marker.stop()
        await self.dispatcher.stop()
        await self.bus.close()
        self.started = False

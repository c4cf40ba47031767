"""The hub's long-lived services for one process: event bus, inventory, the outbox
sweeper and, on the embedded default, the in-process jobs: reservation expiry (every
``HUB_RESERVATION_SWEEP_SECONDS``), the deletion of abandoned carts (every
``HUB_CART_SWEEP_SECONDS``) and the reconciliation of crashed checkouts' payments
(every ``HUB_PAYMENT_RECONCILE_SECONDS``). With Redis, ``hub worker`` runs these
instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from hub.db.database import Database
from hub.domain.carts import delete_expired
from hub.domain.inventory import Inventory
from hub.events.bus import Event, EventBus, create_bus
from hub.events.outbox import OutboxDispatcher, PublishedMarker, publish_committed
from hub.settings import Settings

log = logging.getLogger("hub.services")

CART_BATCH = 500  # carts per delete_expired() call


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
        # Set by the app once its payment providers exist: gives back payments of
        # checkouts that died before writing their order (hub.commerce.Commerce).
        self.reconcile_payments: Callable[[], Awaitable[int]] | None = None
        self._payments_due = 0.0

    async def publish(self, events: Sequence[Event]) -> None:
        """Publish committed events now; once the services run, mark them published in
        the background, in one batch with the others of the moment."""
        await publish_committed(self.db, self.bus, events, self.marker)

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

    async def delete_expired_carts(self, budget: float = 60.0) -> int:
        """Delete abandoned carts past ``HUB_CART_RETENTION_SECONDS`` after expiry (see
        :func:`hub.domain.carts.delete_expired` for what is kept), in batches, for at
        most about ``budget`` seconds."""
        older = timedelta(seconds=self.settings.cart_retention_seconds)
        deadline = time.monotonic() + budget
        total = 0
        while True:
            deleted = await delete_expired(self.db, older_than=older, limit=CART_BATCH)
            total += deleted
            if deleted < CART_BATCH or time.monotonic() >= deadline:
                break
        if total:
            log.info("deleted %d abandoned carts", total)
        return total

    async def _expire_loop(self) -> None:
        interval = self.settings.reservation_sweep_seconds
        carts_due = 0.0
        while True:
            try:
                released = await self.inventory.release_expired()
                if released:
                    log.info("released %d expired reservations", released)
            except Exception:  # keep the loop alive; log and retry next round
                log.exception("reservation expiry failed")
            await self._reconcile_payments_when_due()
            if time.monotonic() >= carts_due:
                carts_due = time.monotonic() + self.settings.cart_sweep_seconds
                try:
                    await self.delete_expired_carts(budget=interval)
                except Exception:
                    log.exception("deleting abandoned carts failed")
            await asyncio.sleep(min(interval, self.settings.cart_sweep_seconds))

    async def _reconcile_payments_when_due(self) -> None:
        """The payment reconciliation (checkout's job), every
        ``HUB_PAYMENT_RECONCILE_SECONDS`` of the embedded loop, first on its first round
        once the app has set :attr:`reconcile_payments`."""
        if self.reconcile_payments is None or time.monotonic() < self._payments_due:
            return
        self._payments_due = time.monotonic() + self.settings.payment_reconcile_seconds
        try:
            settled = await self.reconcile_payments()
            if settled:
                log.info("gave back %d payments of checkouts that never wrote their order", settled)
        except Exception:
            log.exception("payment reconciliation failed")

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

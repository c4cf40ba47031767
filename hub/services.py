"""The hub's long-lived services for one process: the event bus and this process's tail
of the event log, inventory, the outbox sweeper and marker, and the background jobs:
reservation expiry (every ``HUB_RESERVATION_SWEEP_SECONDS``) and the deletion of
abandoned carts (every ``HUB_CART_SWEEP_SECONDS``) and the reconciliation of crashed
checkouts' payments (every ``HUB_PAYMENT_RECONCILE_SECONDS``).

Who runs the jobs: without Redis, every ``hub serve`` process (they are safe to run
side by side). With Redis, ``hub worker`` does and says so with a heartbeat in Redis
(:func:`worker_heartbeat_key`); a serve process that has not seen it for
``HUB_WORKER_GRACE_SECONDS`` (worker down, or Redis down so no worker can run jobs)
runs them itself until the heartbeat is back, so reservations keep expiring and carts
keep being cleaned whatever is down. Each change of who runs them is logged once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from hub.db.database import Database
from hub.domain.carts import delete_expired
from hub.domain.inventory import Inventory
from hub.events.bus import Event, EventBus, create_bus
from hub.events.outbox import OutboxDispatcher, PublishedMarker, publish_committed
from hub.events.tail import OutboxTail
from hub.settings import Settings

log = logging.getLogger("hub.services")

CART_BATCH = 500  # carts per delete_expired() call


def worker_heartbeat_key(settings: Settings) -> str:
    """The Redis key ``hub worker`` keeps alive while it runs the background jobs."""
    return f"{settings.redis_prefix}:worker:heartbeat"


class Services:
    def __init__(self, settings: Settings, db: Database, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus or create_bus(settings, db)
        self.tail = OutboxTail(db, self.bus, interval=settings.events_poll_seconds)
        self.inventory = Inventory(db, publish=self.publish)
        self.dispatcher = OutboxDispatcher(db, self.bus)
        self.marker = PublishedMarker(db)
        self._jobs: asyncio.Task[None] | None = None
        self._redis: aioredis.Redis | None = None
        # Who runs the background jobs, as /readyz tells: "this process" or "worker".
        self.jobs_run_by = "this process" if settings.redis_url is None else "worker"
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
        await self.tail.start()
        await self.dispatcher.start()
        self.marker.start()
        if self.settings.redis_url is not None:
            self._redis = aioredis.Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=2, socket_timeout=2
            )
        self._jobs = asyncio.create_task(self._jobs_loop(), name="hub-jobs")
        self.started = True

    def status(self) -> dict[str, Any]:
        """The bus, the tail and the jobs, for /readyz."""
        return {
            "bus": self.bus.status(),
            "eventLog": self.tail.status(),
            "jobs": self.jobs_run_by,
        }

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

    async def worker_seen(self) -> bool:
        """True if ``hub worker``'s heartbeat is in Redis (False if Redis can't say)."""
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(worker_heartbeat_key(self.settings)))
        except Exception:
            return False

    async def _should_run_jobs(self, last_seen: float) -> tuple[bool, float]:
        """Whether this process runs the jobs this round, and when a worker was last seen."""
        if self.settings.redis_url is None:
            return True, last_seen
        now = time.monotonic()
        if await self.worker_seen():
            if self.jobs_run_by != "worker":
                log.info("jobs: hub worker is back; leaving the background jobs to it")
                self.jobs_run_by = "worker"
            return False, now
        if now - last_seen < self.settings.worker_grace_seconds:
            return False, last_seen
        if self.jobs_run_by != "this process":
            log.warning(
                "jobs: no hub worker seen for %gs; this process expires reservations and "
                "deletes abandoned carts until one is back",
                self.settings.worker_grace_seconds,
            )
            self.jobs_run_by = "this process"
        return True, last_seen

    async def _jobs_loop(self) -> None:
        interval = self.settings.reservation_sweep_seconds
        carts_due = 0.0
        last_seen = time.monotonic()  # give a worker the grace period to show up
        while True:
            run, last_seen = await self._should_run_jobs(last_seen)
            if run:
                await self._run_jobs_once(interval, carts_due)
                if time.monotonic() >= carts_due:
                    carts_due = time.monotonic() + self.settings.cart_sweep_seconds
            await asyncio.sleep(min(interval, self.settings.cart_sweep_seconds))

    async def _run_jobs_once(self, interval: float, carts_due: float) -> None:
        try:
            released = await self.inventory.release_expired()
            if released:
                log.info("released %d expired reservations", released)
        except Exception:  # keep the loop alive; log and retry next round
            log.exception("reservation expiry failed")
        await self._reconcile_payments_when_due()
        if time.monotonic() >= carts_due:
            try:
                await self.delete_expired_carts(budget=interval)
            except Exception:
                log.exception("deleting abandoned carts failed")

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
                log.info(
                    "gave back %d payments of checkouts that never wrote their order", settled
                )
        except Exception:
            log.exception("payment reconciliation failed")

    async def stop(self) -> None:
        if self._jobs is not None:
            self._jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._jobs
            self._jobs = None
        await self.tail.stop()
        await self.marker.stop()
        await self.dispatcher.stop()
        await self.bus.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        self.started = False
